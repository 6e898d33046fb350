"""Helm checks a set of values against the schemas once per process (simulator/chartload.py):
a repeat renders the same objects, bad values are refused every time, and any change to the
chart's files makes Helm check again."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from simulator import chartload
from simulator.render import CHART_DIR, RenderError, render

WORKERS = {"spark-job": {"spark": {"worker": {"replicas": 3}}}}


def _objects(rendered) -> list[tuple[str, dict]]:
    # Secrets are generated afresh by every render (randAlphaNum): compared by their keys only.
    return [(m.source, {**m.obj, "data": sorted(m.obj["data"])} if m.kind == "Secret" else m.obj)
            for m in rendered.manifests]


def test_a_repeat_renders_the_same_objects_without_the_schema_check() -> None:
    first = render(values=WORKERS, release="cache-a")
    entry = chartload._entries[str(Path(CHART_DIR).resolve())]
    assert json.dumps(WORKERS, sort_keys=True) in entry.accepted
    again = render(values=WORKERS, release="cache-a")
    assert entry.archive is not None, "the repeat did not use the schema-free chart"
    assert _objects(again) == _objects(first)
    assert again.notes == first.notes


def test_bad_values_are_refused_every_time() -> None:
    render(values=WORKERS, release="cache-b")
    for _ in range(2):
        with pytest.raises(RenderError, match="minimum: got -1, want 0"):
            render(values={"spark-job": {"spark": {"worker": {"replicas": -1}}}})


def test_a_changed_schema_is_checked_again(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART_DIR, chart, symlinks=True)
    render(chart, values=WORKERS)
    render(chart, values=WORKERS)  # remembered now
    path = chart / "values.schema.json"
    schema = json.loads(path.read_text())
    schema["properties"]["spark-job"]["properties"]["spark"]["properties"]["worker"][
        "properties"]["replicas"]["maximum"] = 2
    path.write_text(json.dumps(schema))
    with pytest.raises(RenderError, match="maximum"):
        render(chart, values=WORKERS)


def test_an_object_met_again_gets_the_same_verdict_and_a_changed_one_its_own() -> None:
    from simulator.validate import validate_object

    good = render(release="cache-c").objects("Service")[0]
    assert validate_object(good, "v1.33.0") == []
    bad = json.loads(json.dumps(good))
    bad["spec"]["ports"][0]["port"] = "http"
    for source in ("first.yaml", "second.yaml"):
        issues = validate_object(bad, "v1.33.0", source)
        assert [(i.path, i.source) for i in issues] == [("/spec/ports/0/port", source)], issues
    assert validate_object(good, "v1.33.0") == []
