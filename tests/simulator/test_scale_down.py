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

import subprocess

import httpx
import pytest
from live import SETS as ONE_WORKER
from live import backoff_env, live_run, poll, sim

from simulator.check import ApiClient
from simulator.stack import Stack
from spark_stack_client import Job

pytestmark = [pytest.mark.spark, pytest.mark.slow]
# The preStop waits GRACE - 5 s (the chart's default stopMarginSeconds): long enough for the
# first job's last 10 s of sleep on a loaded machine, short enough for the second job's wait.
GRACE = 30
SETS = [*ONE_WORKER, "--set", f"spark-job.spark.worker.terminationGracePeriodSeconds={GRACE}"]


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


def _submit_sleeping(api: ApiClient, seconds: int) -> Job:
    """Submit a `sleep` job and wait until its script sleeps (the driver RUNNING is not enough:
    on a busy machine its SparkContext takes tens of seconds to start)."""
    ordinary = api.client("ordinary")
    job = ordinary.wait(ordinary.submit("sleep", {"seconds": seconds}).id, 180, interval=0.5,
                        until={"RUNNING"})
    assert job.state == "RUNNING", job
    poll(f"job {job.id} sleeping", lambda: _sleeping(api, job.id), 180)
    return job


def _worker_full(stack: Stack, pod: str) -> bool:
    """The master counts ``pod``'s core and memory as all used (a driver and its executor)."""
    ip = stack.state.pods[pod].ip
    return any(f"-{ip}-" in w["id"] and w["state"] == "ALIVE" and w["coresfree"] == 0
               and w["memoryfree"] == 0 for w in _master_json(stack)["workers"])


def _scale(run_id: str, n: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    out = sim("scale", run_id, "workers", str(n), env=env, timeout=GRACE + 300)
    print(f"--- scale {n}:\n{out.stderr[-4000:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_scale_down_waits_for_the_driver_on_the_removed_worker(runs_dir, needs_spark):
    env = backoff_env(runs_dir)
    with live_run(env, *SETS) as up:
        api = ApiClient(Stack.load(up["run_id"]))
        try:
            _scale_down_cases(up["run_id"], env, api)
        finally:
            api.close()


def _scale_down_cases(run_id: str, env: dict[str, str], api: ApiClient) -> None:
    stack = Stack.load(run_id)
    filler = _submit_sleeping(api, 900)  # fills worker-0: its driver and its executor
    poll("the first job fills worker-0",
         lambda: _worker_full(stack, "full-stack-spark-worker-0"), 120)
    _scale(run_id, 2, env)
    stack = Stack.load(run_id)

    # 1. A job that ends within the grace period: the scale-down waits for it.
    job = _submit_sleeping(api, 10)
    assert _driver_host(stack, job.driverId) == "full-stack-spark-worker-1", \
        _master_json(stack).get("activedrivers")
    out = _scale(run_id, 1, env)
    assert "full-stack-spark-worker-1: running preStop `/opt/spark-stack/decommission.sh" \
        in out.stderr
    assert "preStop: decommission: sent SIGPWR to the worker" in out.stderr
    assert "preStop: decommission: no driver or executor left on the worker" in out.stderr
    assert "preStop exited 0" in out.stderr
    final = api.wait_job("ordinary", job.id, timeout=120)
    assert final.state == "FINISHED", final

    # 2. A job that cannot end within the grace period: stopped with the worker, and said.
    _scale(run_id, 2, env)
    stack = Stack.load(run_id)
    long_job = _submit_sleeping(api, 900)
    assert _driver_host(stack, long_job.driverId) == "full-stack-spark-worker-1"
    out = _scale(run_id, 1, env)
    assert "preStop: decommission: gave up after" in out.stderr
    assert "preStop exited 1" in out.stderr
    ended = api.wait_job("ordinary", long_job.id, timeout=180)
    print(f"a job stopped with its worker reads: {ended}")
    assert ended.state != "RUNNING" and ended.state != "FINISHED", ended
    listed = api.call("ordinary", "GET", "/v1/jobs").json()
    print(f"listed: {listed}")

    # the first job was never touched
    assert _running(api, filler.id), "the job on the kept worker still runs"
    assert api.call("ordinary", "DELETE", f"/v1/jobs/{filler.id}").status_code < 300
