"""Master recovery on the process backend against real JVMs: with the full-stack scenario's
FILESYSTEM recovery on a claim, a master SIGKILLed during a running job is restarted by the
run's controller, takes its worker back, and the job ends FINISHED and stays readable through
the API (issue: a master crash used to lose every job). Times are printed, not asserted."""
from __future__ import annotations

import pytest
from live import SETS, backoff_env, live_run, run_status

from simulator.check import ApiClient
from simulator.stack import Stack

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_a_killed_master_comes_back_and_the_running_job_finishes(runs_dir, needs_spark):
    env = backoff_env(runs_dir)
    with live_run(env, *SETS) as out:
        run_id = out["run_id"]
        stack = Stack.load(run_id)
        master = next(p for p, r in stack.state.pods.items() if r.component == "master")
        claim = stack.state.dir / "claims"
        api = ApiClient(stack)
        try:
            # Long enough to end after the master has recovered: a driver that ends while the
            # master is down or recovering is not claimed by its worker, and the recovered master
            # marks it ERROR (Master.completeRecovery). 12 s failed that way under CI load.
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
        pod = next(p for p in run_status(run_id, env)["pods"] if p["name"] == master)
        assert pod["restarts"] >= 1, pod
        assert any(claim.rglob("*")), "the recovery state lives on the run's claim directory"
