"""Generate the parts of the charts' values.schema.json files that are copies.

- The library chart (charts/spark-stack-common/values.schema.json) holds the shapes both
  subcharts use under ``$defs`` (probes, env, volumes, images, ...): each subchart schema gets
  that ``$defs`` verbatim, so its ``$ref: "#/$defs/..."`` resolve when the subchart renders alone.
- The umbrella's schema embeds each subchart's schema under its name, because Helm skips the
  schema of a tag-disabled subchart (``--set tags.install-service=false`` would otherwise accept
  any ``api-service.*`` typo), and the same ``$defs`` at its root, where the embedded refs point.
  Everything else in the umbrella's file (tags, global, the rules spanning both subcharts) is
  its own and kept by hand.

``python chart/hack/schema.py`` rewrites the files; ``--check`` exits 1 when one is stale.
tests/chart/test_generated.py runs the check.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

CHART = Path(__file__).resolve().parents[1]
LIBRARY = CHART / "charts" / "spark-stack-common"
SUBCHARTS = ("spark-job", "api-service")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _dump(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[Path, str]:
    """Every generated schema file and the text it must hold."""
    defs = _load(LIBRARY / "values.schema.json")["$defs"]
    out: dict[Path, str] = {}
    subs: dict[str, dict] = {}
    for name in SUBCHARTS:
        path = CHART / "charts" / name / "values.schema.json"
        schema = _load(path)
        schema["$defs"] = defs
        out[path] = _dump(schema)
        subs[name] = {k: v for k, v in schema.items() if k not in ("$schema", "$defs")}
    path = CHART / "values.schema.json"
    umbrella = _load(path)
    for name, schema in subs.items():
        umbrella["properties"][name] = schema
    umbrella["$defs"] = defs
    out[path] = _dump(umbrella)
    return out


def stale() -> list[Path]:
    return [p for p, text in generate().items() if p.read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        paths = stale()
        for p in paths:
            print(f"{p.relative_to(CHART.parent)} is stale: run python chart/hack/schema.py",
                  file=sys.stderr)
        return 1 if paths else 0
    for p, text in generate().items():
        p.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
