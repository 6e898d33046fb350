"""The charts' values files and schemas stay documented and in step."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "chart"
CHARTS = [CHART, CHART / "charts" / "spark-job", CHART / "charts" / "api-service"]


def _leaf_keys(node: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(node, dict) and node:
        return [leaf for k, v in node.items() for leaf in _leaf_keys(v, path + (k,))]
    return [path]


@pytest.mark.parametrize("chart", CHARTS, ids=lambda p: p.name)
def test_every_value_is_documented_with_a_helm_docs_comment(chart: Path) -> None:
    """helm-docs style: a `# --` comment right above each value, or above a map holding it."""
    text = (chart / "values.yaml").read_text()
    lines = text.splitlines()
    undocumented = []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented)
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([\w.\-\"']+):(.*)$", line)
        if not m or line.lstrip().startswith("#") or line.lstrip().startswith("-"):
            continue
        indent, key, rest = len(m.group(1)), m.group(2).strip("\"'"), m.group(3).strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        j = i - 1
        while j >= 0 and lines[j].lstrip().startswith("#") and "# --" not in lines[j]:
            j -= 1
        documented = j >= 0 and "# --" in lines[j]
        inherited = any(d for _, _, d in stack)
        stack.append((indent, key, documented))
        holds_value = rest != "" or (i + 1 < len(lines) and lines[i + 1].lstrip().startswith("- "))
        if holds_value and not (documented or inherited):
            undocumented.append(".".join(k for _, k, _ in stack))
    assert undocumented == [], f"{chart.name}/values.yaml keys without a `# --` comment"


@pytest.mark.parametrize("chart", CHARTS, ids=lambda p: p.name)
def test_every_schema_object_is_closed(chart: Path) -> None:
    schema = json.loads((chart / "values.schema.json").read_text())
    open_objects = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                if node.get("additionalProperties") is not False:
                    open_objects.append(where)
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(schema, "")
    assert open_objects == []


def values_at(values: dict, path: tuple[str, ...]) -> object:
    for key in path:
        values = values[key]
    return values


@pytest.mark.parametrize("chart", CHARTS, ids=lambda p: p.name)
def test_defaults_carry_no_plain_secret(chart: Path) -> None:
    values = yaml.safe_load((chart / "values.yaml").read_text())
    for path in _leaf_keys(values):
        name = path[-1].lower() if path else ""
        value = values_at(values, path)
        if any(word in name for word in ("password", "token", "secret")) and \
                isinstance(value, str) and not name.endswith(("existingsecret", "key")):
            assert values_at(values, path) == "", f"{'.'.join(path)} has a default secret"
