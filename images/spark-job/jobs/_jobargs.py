"""Shared start-up for the catalog's job scripts: parameters in, SparkSession out.

How a script is called: the job API submits through the master's REST gateway with
``"mainClass": "org.apache.spark.deploy.PythonRunner"`` and
``"appArgs": ["<jobs dir>/<script>", "", "<JSON parameters>"]``. PythonRunner (Spark 4.3,
``PythonRunner.main``) reads ``args(0)`` as the script, ``args(1)`` as the comma-separated extra
``--py-files`` (empty here) and passes the rest through, so the Python process sees
``sys.argv == ["<script>", "<JSON parameters>"]``: ``sys.argv[1]`` is the one JSON object.
(Verified by tests/spark/test_jobs.py, which submits exactly that way.)

The job API validates parameters against ``catalog.json`` before submitting; the scripts check
them again with the same schema (a small subset of JSON Schema, so the image needs no
``jsonschema``) because the REST gateway has no authentication and anyone who can reach it
could submit a script with arbitrary arguments.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.json")


class ParameterError(ValueError):
    """A parameter is missing, of the wrong type or out of bounds; the message names it."""


def _check(name: str, value: Any, spec: dict[str, Any]) -> Any:
    kind = spec.get("type")
    if kind == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema counts 3.0 as an integer; so does the API
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"parameter '{name}' must be an integer, got {value!r}")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"parameter '{name}' must be a number, got {value!r}")
    elif kind == "string":
        if not isinstance(value, str):
            raise ParameterError(f"parameter '{name}' must be a string, got {value!r}")
        if len(value) < spec.get("minLength", 0):
            raise ParameterError(f"parameter '{name}' is shorter than {spec['minLength']}")
        if "maxLength" in spec and len(value) > spec["maxLength"]:
            raise ParameterError(f"parameter '{name}' is longer than {spec['maxLength']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ParameterError(f"parameter '{name}' must be true or false, got {value!r}")
    if kind in ("integer", "number"):
        low, high = spec.get("minimum"), spec.get("maximum")
        if low is not None and value < low:
            raise ParameterError(f"parameter '{name}'={value} is below the minimum {low}")
        if high is not None and value > high:
            raise ParameterError(f"parameter '{name}'={value} is above the maximum {high}")
    return value


def parse_params(job: str, argv: list[str] | None = None) -> dict[str, Any]:
    """Decode ``argv[1]`` (JSON), apply the catalog's defaults and check types and bounds."""
    argv = sys.argv if argv is None else argv
    with open(CATALOG, encoding="utf-8") as handle:
        schema = json.load(handle)["jobs"][job]["parameters"]
    raw = argv[1] if len(argv) > 1 and argv[1].strip() else "{}"
    try:
        given = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"the job's argument is not JSON ({exc}): {raw[:200]!r}") from None
    if not isinstance(given, dict):
        raise ParameterError(f"the job's argument must be a JSON object, got {raw[:200]!r}")
    props: dict[str, Any] = schema.get("properties", {})
    unknown = sorted(set(given) - set(props))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; '{job}' takes {sorted(props)}")
    params = {name: spec["default"] for name, spec in props.items() if "default" in spec}
    params.update(given)
    missing = [name for name in schema.get("required", []) if name not in params]
    if missing:
        raise ParameterError(f"missing required parameter(s) {missing} for '{job}'")
    return {name: _check(name, value, props[name]) for name, value in params.items()}


def session(job: str):  # -> pyspark.sql.SparkSession (imported lazily: unit tests need no JVM)
    """The job's SparkSession, named by the submission's ``spark.app.name`` when it set one.

    The API puts a unique token in ``spark.app.name`` to find the job's application on the
    master, so a script must never rename it; the job name is only a fallback for manual runs.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    # Before the JVM gateway is up, SparkConf() is a pure-Python conf that cannot see the
    # submission's properties (they are the driver JVM's system properties): connect first.
    SparkContext._ensure_initialized()
    builder = SparkSession.builder
    if not SparkConf(loadDefaults=True).contains("spark.app.name"):
        builder = builder.appName(job)
    return builder.getOrCreate()


def exit_with_driver(poll_seconds: float = 0.5) -> threading.Thread:
    """Exit this Python process as soon as the driver JVM that started it is gone.

    Killing a job (REST ``kill``) ends the driver JVM, but its Python child only notices when it
    next calls into the JVM: a job that sleeps or computes in pure Python would live on as an
    orphan, holding memory on the worker (observed: the ``sleep`` job outlived its KILLED
    driver). A daemon thread watches the parent PID and ends the process when it changes;
    its goodbye line cannot be relied on, since the process's output went to the JVM.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                try:  # stdout/stderr are pipes into the dead JVM: this write usually fails
                    print("driver JVM is gone (job killed?): exiting", file=sys.stderr,
                          flush=True)
                finally:
                    os._exit(143)

    thread = threading.Thread(target=watch, name="exit-with-driver", daemon=True)
    thread.start()
    return thread


def start(job: str) -> tuple[dict[str, Any], Any]:
    """Parse the parameters (before any JVM work, so bad input fails fast) and open the session."""
    exit_with_driver()
    params = parse_params(job)
    print(f"job {job}: parameters {json.dumps(params, sort_keys=True)}", flush=True)
    return params, session(job)
