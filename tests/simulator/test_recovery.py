"""Master recovery on the process backend against real JVMs: with the full-stack scenario's
FILESYSTEM recovery on a claim, a master SIGKILLed during a running job is restarted by the
run's controller, takes its worker back, and the job ends FINISHED and stays readable through
the API (issue: a master crash used to lose every job). Times are printed, not asserted."""
from __future__ import annotations

import json
import os
import subprocess
import sys


import pytest
from test_controller import REPO, SETS, _sim, _status

from simulator.check import ApiClient
from simulator.controller import BACKOFF_CAP_ENV, BACKOFF_ENV
from simulator.stack import Stack

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_a_killed_master_comes_back_and_the_running_job_finishes(runs_dir, needs_spark):
    env = dict(os.environ, PYTHONPATH=str(REPO), SPARK_STACK_RUNS_DIR=str(runs_dir),
               **{BACKOFF_ENV: "1", BACKOFF_CAP_ENV: "10"})
    up = subprocess.run([sys.executable, "-m", "simulator", "up", "full-stack", *SETS, "--json"],
                        env=env, capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stderr[-3000:]
    run_id = json.loads(up.stdout)["run_id"]
    try:
        stack = Stack.load(run_id)
        master = next(p for p, r in stack.state.pods.items() if r.component == "master")
        claim = stack.state.dir / "claims"
        api = ApiClient(stack)
        try:
            resp = api.submit("ordinary", "sleep", {"seconds": 25})
            assert resp.status_code == 202, resp.text
            job = resp.json()["id"]
            running = api.client("ordinary").wait(job, 120, interval=0.5, until={"RUNNING"})
            assert running.state == "RUNNING", running
            print(f"killed the master: {stack.backend.kill_pod(master)}")
            final = api.wait_job("ordinary", job, timeout=240)
            assert final.state == "FINISHED", final
            again = api.call("ordinary", "GET", f"/v1/jobs/{job}")
            assert again.status_code == 200 and again.json()["state"] == "FINISHED"
        finally:
            api.close()
        pod = next(p for p in _status(run_id, env)["pods"] if p["name"] == master)
        assert pod["restarts"] >= 1, pod
        assert any(claim.rglob("*")), "the recovery state lives on the run's claim directory"
    finally:
        down = _sim("down", run_id, env=env, timeout=300)
    assert down.returncode == 0, down.stderr
