"""Submitting catalog jobs through the master's REST gateway, the way the job API does (used by
the Spark tests and the benchmarks against a ``SparkCluster``).

The recipe (docs/design.md section 4): ``spark-submit`` refuses Python in standalone cluster
mode, but the
REST gateway accepts ``mainClass: org.apache.spark.deploy.PythonRunner`` with
``appArgs: [script, "", json]``; PythonRunner takes ``args(0)`` as the script, ``args(1)`` as
the ``--py-files`` list (empty) and hands the rest to Python, so the script's ``sys.argv[1]`` is
the JSON parameters (images/spark-job/jobs/_jobargs.py).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from simulator.local.spark import JOBS_DIR

TERMINAL = {"FINISHED", "FAILED", "KILLED", "ERROR"}
# C1 only for the driver and executor JVMs: most of their life is start-up.
FAST_JVM = "-XX:TieredStopAtLevel=1"


def create_request(master_url: str, job: str, params: dict[str, Any], app_name: str,
                   jobs_dir: Path = JOBS_DIR, **properties: str) -> dict[str, Any]:
    """The CreateSubmissionRequest body for a catalog job.

    ``spark.driver.cores: 0`` keeps drivers from holding the worker's only core (else apps
    wait forever with 0 cores while the driver says RUNNING); driver and executor get 512m so
    both fit a 1g worker.
    """
    catalog = json.loads((jobs_dir / "catalog.json").read_text())
    script = str(jobs_dir / catalog["jobs"][job]["script"])
    spark_properties = {
        "spark.master": master_url,
        "spark.submit.deployMode": "cluster",
        "spark.app.name": app_name,
        "spark.driver.cores": "0",
        "spark.driver.memory": "512m",
        "spark.executor.memory": "512m",
        "spark.executor.cores": "1",
        "spark.cores.max": "1",
        "spark.driver.extraJavaOptions": FAST_JVM,
        "spark.executor.extraJavaOptions": FAST_JVM,
        "spark.ui.showConsoleProgress": "false",
    }
    spark_properties.update(properties)
    return {
        "action": "CreateSubmissionRequest",
        "appResource": f"file:{script}",
        "mainClass": "org.apache.spark.deploy.PythonRunner",
        "appArgs": [script, "", json.dumps(params)],
        "clientSparkVersion": "4.3.0",
        "sparkProperties": spark_properties,
        "environmentVariables": {},
    }


def submit(rest_url: str, body: dict[str, Any]) -> str:
    """POST the request; returns the driver id (``driver-...``) or raises with the answer."""
    answer = httpx.post(f"{rest_url}/v1/submissions/create", json=body, timeout=30).json()
    if not answer.get("success"):
        raise RuntimeError(f"submission refused: {answer}")
    return answer["submissionId"]


def status(rest_url: str, driver_id: str) -> dict[str, Any]:
    return httpx.get(f"{rest_url}/v1/submissions/status/{driver_id}", timeout=30).json()


def kill(rest_url: str, driver_id: str) -> dict[str, Any]:
    return httpx.post(f"{rest_url}/v1/submissions/kill/{driver_id}", timeout=30).json()


def wait_state(rest_url: str, driver_id: str, states: set[str] = TERMINAL,
               timeout: float = 300.0) -> dict[str, Any]:
    """Poll the driver until its state is in ``states``; on timeout raise with the last answer."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = status(rest_url, driver_id)
        if seen.get("driverState") in states:
            return seen
        if seen.get("driverState") in TERMINAL:
            raise RuntimeError(f"{driver_id} ended {seen.get('driverState')}, "
                                 f"waiting for {sorted(states)}: {seen}")
        time.sleep(0.25)
    raise TimeoutError(f"{driver_id} not in {sorted(states)} after {timeout:.0f} s: {seen}")


def driver_file(work_dirs: list[Path], driver_id: str, name: str = "stdout") -> Path:
    """``<work dir>/<driver id>/<name>`` on whichever worker ran the driver."""
    for work_dir in work_dirs:
        path = work_dir / driver_id / name
        if path.exists():
            return path
    raise FileNotFoundError(f"no {name} for {driver_id} under {[str(w) for w in work_dirs]}")


def driver_output(work_dirs: list[Path], driver_id: str, name: str = "stdout") -> str:
    return driver_file(work_dirs, driver_id, name).read_text(errors="replace")
