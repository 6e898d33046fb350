"""The job catalog: valid, closed JSON Schemas; catalog and scripts agree; the scripts' own check
of parameters agrees with a real JSON Schema validator (no JVM needed)."""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.local.spark import JOBS_DIR

CATALOG = json.loads((JOBS_DIR / "catalog.json").read_text())
JOBS = CATALOG["jobs"]
REQUIRED_JOBS = {"pi", "wordcount", "sql_aggregate", "sleep", "fail"}

sys.path.insert(0, str(JOBS_DIR))
import _jobargs  # noqa: E402  (the helper every job script imports)


def test_catalog_has_the_promised_jobs() -> None:
    assert REQUIRED_JOBS <= set(JOBS)
    assert set(CATALOG) == {"jobs"}


@pytest.mark.parametrize("name", sorted(JOBS))
def test_entry_is_complete_and_its_schema_valid_and_closed(name: str) -> None:
    entry = JOBS[name]
    assert set(entry) == {"description", "script", "parameters"}
    assert entry["description"].strip()
    schema = entry["parameters"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False, "closed: a typo must be an error"
    for prop, spec in schema["properties"].items():
        assert spec["type"] in {"integer", "number", "string", "boolean"}, prop
        assert spec.get("description"), f"{name}.{prop} needs a description"
        assert "default" in spec, f"{name}.{prop} needs a default"
        jsonschema.validate(spec["default"], spec)
        if spec["type"] in {"integer", "number"}:
            assert "minimum" in spec and "maximum" in spec, f"{name}.{prop} must be bounded"
        if spec["type"] == "string":
            assert "maxLength" in spec, f"{name}.{prop} must be bounded"


def test_every_entry_has_a_script_and_every_script_an_entry() -> None:
    scripts = {entry["script"] for entry in JOBS.values()}
    on_disk = {p.name for p in JOBS_DIR.glob("*.py") if not p.name.startswith("_")}
    assert scripts == on_disk
    for name, entry in JOBS.items():
        source = (JOBS_DIR / entry["script"]).read_text()
        tree = ast.parse(source)
        # Each script starts through the shared helper under its own catalog name.
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and getattr(node.func, "id", None) == "start"]
        assert [c.args[0].value for c in calls] == [name], entry["script"]


@pytest.mark.parametrize("name", sorted(JOBS))
def test_defaults_are_applied(name: str) -> None:
    props = JOBS[name]["parameters"]["properties"]
    assert _jobargs.parse_params(name, ["script.py", "{}"]) == {
        prop: spec["default"] for prop, spec in props.items()}
    assert _jobargs.parse_params(name, ["script.py"]) == _jobargs.parse_params(
        name, ["script.py", ""])


@pytest.mark.parametrize(("job", "raw", "message"), [
    ("pi", '{"samples": 0}', "parameter 'samples'=0 is below the minimum 1"),
    ("pi", '{"samples": "10"}', "parameter 'samples' must be an integer"),
    ("pi", '{"sample": 10}', "unknown parameter(s) ['sample']"),
    ("wordcount", '{"text": ""}', "parameter 'text' is shorter than 1"),
    ("sleep", '{"seconds": -1}', "parameter 'seconds'=-1 is below the minimum 0"),
    ("fail", "not json", "the job's argument is not JSON"),
    ("fail", "[]", "the job's argument must be a JSON object"),
    ("pi", '{"samples": 2.5}', "parameter 'samples' must be an integer"),
])
def test_bad_parameters_name_the_field(job: str, raw: str, message: str) -> None:
    with pytest.raises(_jobargs.ParameterError, match="^" + _escape(message)):
        _jobargs.parse_params(job, ["script.py", raw])


def _escape(text: str) -> str:
    import re

    return re.escape(text)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9),
                    st.integers(-10**6, 10**6).map(float),
                    st.floats(-1e9, 1e9, allow_nan=False), st.text(max_size=30))


@given(name=st.sampled_from(sorted(JOBS)), data=st.data())
def test_the_scripts_check_agrees_with_json_schema(name: str, data: st.DataObject) -> None:
    props = JOBS[name]["parameters"]["properties"]
    keys = st.sampled_from(sorted(props) + ["extra"])
    given_params = data.draw(st.dictionaries(keys, scalars, max_size=3))
    valid = jsonschema.Draft202012Validator(JOBS[name]["parameters"]).is_valid(given_params)
    try:
        _jobargs.parse_params(name, ["script.py", json.dumps(given_params)])
        accepted = True
    except _jobargs.ParameterError:
        accepted = False
    assert accepted == valid, given_params


def test_jobs_dir_is_what_the_image_ships() -> None:
    dockerfile = (JOBS_DIR.parent / "Dockerfile").read_text()
    assert "COPY jobs/ /opt/spark-jobs/" in dockerfile
    assert Path(JOBS_DIR / "catalog.json").is_file()
