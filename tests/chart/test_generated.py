"""Files generated from others are checked in as their generator makes them (chart/hack/)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

CHART = Path(__file__).resolve().parents[2] / "chart"


def _hack(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"chart_hack_{name}",
                                                  CHART / "hack" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_schemas_are_what_the_generator_makes() -> None:
    schema = _hack("schema")
    stale = [str(p.relative_to(CHART)) for p in schema.stale()]
    assert stale == [], f"stale: {stale}; run python chart/hack/schema.py"


@pytest.mark.parametrize("sub", ["spark-job", "api-service"])
def test_umbrella_embeds_each_subchart_schema(sub: str) -> None:
    # Helm skips a tag-disabled subchart's own schema, so the umbrella carries it too.
    umbrella = json.loads((CHART / "values.schema.json").read_text())
    own = json.loads((CHART / "charts" / sub / "values.schema.json").read_text())
    defs = own.pop("$defs")
    own.pop("$schema", None)
    assert umbrella["properties"][sub] == own
    assert umbrella["$defs"] == defs


def test_generator_notices_a_hand_edit(tmp_path, monkeypatch) -> None:
    schema = _hack("schema")
    copy = tmp_path / "chart"
    import shutil
    shutil.copytree(CHART, copy, symlinks=True)
    monkeypatch.setattr(schema, "CHART", copy)
    monkeypatch.setattr(schema, "LIBRARY", copy / "charts" / "spark-stack-common")
    assert schema.stale() == []
    path = copy / "charts" / "api-service" / "values.schema.json"
    edited = json.loads(path.read_text())
    edited["properties"]["replicaCount"]["maximum"] = 3
    path.write_text(json.dumps(edited, indent=2) + "\n")
    assert copy / "values.schema.json" in schema.stale()


def test_readme_values_table_is_what_the_generator_makes() -> None:
    readme = _hack("readme")
    assert readme.README.read_text() == readme.generate(), "run python chart/hack/readme.py"


def test_readme_table_has_a_row_per_documented_key_and_notices_a_new_one(tmp_path,
                                                                        monkeypatch) -> None:
    readme = _hack("readme")
    table = readme.table()
    for key in ("tags.install-spark", "global.imageRegistry", "spark-job.spark.worker.replicas",
                "spark-job.extraEnv", "api-service.oauth.proxy.image.digest",
                "api-service.probes"):
        assert f"| {key} |" in table, key
    assert table.count("| spark-job.spark.worker.replicas |") == 1
    assert "| spark-job.spark.worker.replicas | int | `4` |" in table  # the umbrella's default
    assert "| spark-job.global." not in table
    values = tmp_path / "values.yaml"
    values.write_text("# -- A new knob.\nknob: 3\nplain:\n  # -- Nested | piped.\n  x: \"a\"\n")
    monkeypatch.setattr(readme, "SOURCES", (("", tmp_path),))
    assert readme.table().splitlines()[2:] == [
        "| knob | int | `3` | A new knob. |",
        '| plain.x | string | `"a"` | Nested \\| piped. |']
