"""The process backend against real JVMs, the real API and the real mock OAuth server.

One full-stack-ish run (1 master, 1..2 workers of 1 core / 1g so a job's driver and executor fit,
the API) is shared by the module; each test leaves it as it found it. The spec's 2 → 3 → 1 scale
needs 3 workers at once; this box's shared budget is 2, so the sequence is 1 → 2 → 1 unless
SPARK_STACK_TEST_MAX_WORKERS=3.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from simulator.local import procs
from simulator.local.procs import ProcRecord
from simulator.check import ApiClient
from simulator.run import RunState
from simulator.scenarios import load
from simulator.stack import Stack

pytestmark = [pytest.mark.spark, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
MAX_WORKERS = int(os.environ.get("SPARK_STACK_TEST_MAX_WORKERS", "2"))
BASE = MAX_WORKERS - 1
TEST_SETS = ["spark-job.spark.worker.memory=1g", f"spark-job.spark.worker.replicas={BASE}"]


def _pids(stack: Stack) -> dict[str, int]:
    return {name: rec.proc["pid"] for name, rec in stack.state.pods.items()}


def _assert_nothing_left(state: RunState) -> None:
    records = [ProcRecord.from_json(r.proc) for r in [*state.pods.values(), *state.extras.values()]
               if r.proc]
    alive = [r.name for r in records if r.alive()]
    assert alive == [], f"still running after down: {alive}"
    assert procs.listening_on(state.subnet + ".") == []
    # nothing whose environment points into this run's directory either (drivers, executors)
    mine = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(state.run_id in part for part in proc.info["cmdline"] or []):
                mine.append(proc.pid)
        except psutil.Error:
            continue
    assert mine == [], f"processes of run {state.run_id} left: {mine}"


@pytest.fixture(scope="module")
def stack(runs_dir, needs_spark):
    st = Stack.create(load("full-stack"), TEST_SETS)
    try:
        st.up()
        yield st
    finally:
        st.down()
    _assert_nothing_left(st.state)


def test_up_full_stack_job_through_api_with_token(stack):
    assert stack.master_json()["aliveworkers"] == BASE
    api = ApiClient(stack)
    try:
        assert api.call("none", "GET", "/v1/jobs").status_code == 401
        assert api.submit("readonly", "pi", {"samples": 10}).status_code == 403
        resp = api.submit("ordinary", "pi", {"samples": 1000, "partitions": 1})
        assert resp.status_code == 202, resp.text
        final = api.wait_job("ordinary", resp.json()["id"], timeout=240)
        assert final.state == "FINISHED", final
    finally:
        api.close()


def test_pods_bind_their_own_loopback_ip(stack):
    ips = {rec.ip for rec in stack.state.pods.values()}
    assert len(ips) == len(stack.state.pods)
    for name, rec in stack.state.pods.items():
        proc = ProcRecord.from_json(rec.proc).process()
        assert proc is not None, name
        tree = [proc] + proc.children(recursive=True)
        listen = {procs.ipv4(c.laddr.ip) for p in tree for c in p.net_connections("tcp")
                  if c.status == psutil.CONN_LISTEN}
        assert listen and listen <= {rec.ip}, (name, listen)


def test_scale_keeps_unchanged_pods(stack):
    before = _pids(stack)
    stack.scale("workers", BASE + 1)
    after_up = _pids(stack)
    assert {k: after_up[k] for k in before} == before
    assert len(after_up) == len(before) + 1
    assert stack.master_json()["aliveworkers"] == BASE + 1
    stack.scale("workers", BASE)
    after_down = _pids(stack)
    assert after_down == before
    assert stack.master_json()["aliveworkers"] == BASE


def test_upgrade_toggles_the_service(stack):
    spark_before = {k: v for k, v in _pids(stack).items() if "api-service" not in k}
    stack.upgrade(["tags.install-service=false"])
    assert not any("api-service" in k for k in stack.state.pods)
    assert "api_url" not in stack.state.outputs
    assert not stack.backend.extra_alive("oauth")
    assert _pids(stack) == spark_before
    stack.upgrade(["tags.install-service=true"])
    assert any("api-service" in k for k in stack.state.pods)
    assert stack.backend.extra_alive("oauth")
    assert {k: v for k, v in _pids(stack).items() if "api-service" not in k} == spark_before
    api = ApiClient(stack)
    try:
        assert api.call("none", "GET", "/v1/jobs").status_code == 401
        assert api.call("ordinary", "GET", "/v1/jobs").status_code == 200
    finally:
        api.close()


def test_killed_worker_is_restarted_by_reconcile(stack):
    worker = next(k for k in stack.state.pods if "worker" in k)
    old = _pids(stack)
    stack.backend.kill_pod(worker)
    stack.reconcile()
    new = _pids(stack)
    assert new[worker] != old[worker]
    assert {k: v for k, v in new.items() if k != worker} == \
        {k: v for k, v in old.items() if k != worker}
    assert stack.master_json()["aliveworkers"] == BASE


def test_down_after_the_simulator_was_sigkilled(runs_dir, needs_spark):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    sim = subprocess.Popen([sys.executable, "-m", "simulator", "up", "spark-only",
                            "--set", "spark-job.spark.worker.replicas=1"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    run_json = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run_json is None:
            for p in runs_dir.glob("spark-only-*/run.json"):
                data = json.loads(p.read_text())
                if any(info.get("proc") for info in data["pods"].values()):
                    run_json = p
            time.sleep(0.2)
        assert run_json is not None, "the simulator never recorded a pod"
    finally:
        os.killpg(sim.pid, signal.SIGKILL)
        sim.wait()
    run_id = run_json.parent.name
    state = RunState.load(run_id)
    assert any(ProcRecord.from_json(p.proc).alive() for p in state.pods.values()
               if p.proc), "a pod should have outlived the killed simulator"
    down = subprocess.run([sys.executable, "-m", "simulator", "down", run_id], env=env,
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    _assert_nothing_left(RunState.load(run_id))
