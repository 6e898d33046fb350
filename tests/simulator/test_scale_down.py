"""Scale-down finishes its work, on the process backend against real JVMs, the real API and the
chart's own preStop hook (images/spark-job/decommission.sh): the worker a scale-down removes is
decommissioned and stopped only once the driver it hosts has finished, and `scale` shows what it
waits for; a job that cannot finish within the grace period is stopped with the worker, and the
scale-down says it gave up. Times are printed, not asserted.

Which worker goes: the simulator removes the highest ordinal (`worker-1`); Kubernetes prefers
the newest pod among equals, which `worker-1` is here. The driver is placed there on purpose,
as a user could: with 1 worker of 1 core/1g, a first `sleep` job fills worker-0 (its driver and
its executor), the run is scaled to 2 workers, and the next job's driver can only go to
worker-1 (checked in the master's /json/ before the scale-down)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from test_controller import REPO, _poll, _sim

from simulator.check import ApiClient
from simulator.controller import BACKOFF_CAP_ENV, BACKOFF_ENV
from simulator.stack import Stack

pytestmark = [pytest.mark.spark, pytest.mark.slow]
GRACE = 60  # the preStop waits GRACE - 5 s (the chart's default stopMarginSeconds)
SETS = ["--set", "spark-job.spark.worker.replicas=1", "--set", "spark-job.spark.worker.memory=1g",
        "--set", f"spark-job.spark.worker.terminationGracePeriodSeconds={GRACE}"]


def _master_json(stack: Stack) -> dict:
    master = next(r for r in stack.state.pods.values() if r.component == "master")
    return httpx.get(f"http://{master.ip}:{master.master_ui_port}/json/", timeout=5,
                     trust_env=False).json()


def _driver_host(stack: Stack, driver_id: str) -> str | None:
    """The pod whose address the master names for the worker running ``driver_id``."""
    for d in _master_json(stack).get("activedrivers", []):
        if d["id"] == driver_id and d.get("worker") not in (None, "None"):
            return next((p for p, r in stack.state.pods.items()
                         if r.component == "worker" and f"-{r.ip}-" in d["worker"]), None)
    return None


def _running(api: ApiClient, job: str) -> dict | None:
    body = api.call("ordinary", "GET", f"/v1/jobs/{job}").json()
    return body if body.get("state") == "RUNNING" else None


def _sleeping(api: ApiClient, job: str) -> bool:
    logs = api.call("ordinary", "GET", f"/v1/jobs/{job}/logs")
    return logs.status_code == 200 and "sleeping" in logs.json()["text"]


def _submit_sleeping(api: ApiClient, seconds: int) -> dict:
    """Submit a `sleep` job and wait until its script sleeps (the driver RUNNING is not enough:
    on a busy machine its SparkContext takes tens of seconds to start)."""
    resp = api.submit("ordinary", "sleep", {"seconds": seconds})
    assert resp.status_code == 202, resp.text
    job = resp.json()["id"]
    body = _poll(f"job {job} RUNNING", lambda: _running(api, job), 180)
    _poll(f"job {job} sleeping", lambda: _sleeping(api, job), 180)
    return body


def _worker_full(stack: Stack, pod: str) -> bool:
    """The master counts ``pod``'s core and memory as all used (a driver and its executor)."""
    ip = stack.state.pods[pod].ip
    return any(f"-{ip}-" in w["id"] and w["state"] == "ALIVE" and w["coresfree"] == 0
               and w["memoryfree"] == 0 for w in _master_json(stack)["workers"])


def _scale(run_id: str, n: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    out = _sim("scale", run_id, "workers", str(n), env=env, timeout=GRACE + 300)
    print(f"--- scale {n}:\n{out.stderr[-4000:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_scale_down_waits_for_the_driver_on_the_removed_worker(runs_dir, needs_spark):
    env = dict(os.environ, PYTHONPATH=str(REPO), SPARK_STACK_RUNS_DIR=str(runs_dir),
               **{BACKOFF_ENV: "1", BACKOFF_CAP_ENV: "10"})
    up = subprocess.run([sys.executable, "-m", "simulator", "up", "full-stack", *SETS, "--json"],
                        env=env, capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stderr[-3000:]
    run_id = json.loads(up.stdout)["run_id"]
    api = None
    try:
        stack = Stack.load(run_id)
        api = ApiClient(stack)
        filler = _submit_sleeping(api, 900)  # fills worker-0: its driver and its executor
        _poll("the first job fills worker-0",
              lambda: _worker_full(stack, "full-stack-spark-worker-0"), 120)
        _scale(run_id, 2, env)
        stack = Stack.load(run_id)

        # 1. A job that ends within the grace period: the scale-down waits for it.
        job = _submit_sleeping(api, 20)
        assert _driver_host(stack, job["driverId"]) == "full-stack-spark-worker-1", \
            _master_json(stack).get("activedrivers")
        out = _scale(run_id, 1, env)
        assert "full-stack-spark-worker-1: running preStop `/opt/spark-stack/decommission.sh" \
            in out.stderr
        assert "preStop: decommission: sent SIGPWR to the worker" in out.stderr
        assert "preStop: decommission: no driver or executor left on the worker" in out.stderr
        assert "preStop exited 0" in out.stderr
        final = api.wait_job("ordinary", job["id"], timeout=120)
        assert final["state"] == "FINISHED", final

        # 2. A job that cannot end within the grace period: stopped with the worker, and said.
        _scale(run_id, 2, env)
        stack = Stack.load(run_id)
        long_job = _submit_sleeping(api, 900)
        assert _driver_host(stack, long_job["driverId"]) == "full-stack-spark-worker-1"
        out = _scale(run_id, 1, env)
        assert "preStop: decommission: gave up after" in out.stderr
        assert "preStop exited 1" in out.stderr
        ended = api.wait_job("ordinary", long_job["id"], timeout=180)
        print(f"a job stopped with its worker reads: {ended}")
        assert ended["state"] != "RUNNING" and ended["state"] != "FINISHED", ended
        listed = api.call("ordinary", "GET", "/v1/jobs").json()
        print(f"listed: {listed}")

        # the first job was never touched
        assert _running(api, filler["id"]), "the job on the kept worker still runs"
        assert api.call("ordinary", "DELETE", f"/v1/jobs/{filler['id']}").status_code < 300
    finally:
        if api is not None:
            api.close()
        down = _sim("down", run_id, env=env, timeout=300)
    assert down.returncode == 0, down.stderr
