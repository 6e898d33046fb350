"""`python -m simulator chaos` on a live run (process backend, real JVMs, the real API and mock
OAuth), as a user types it after `up`: each action prints what it did and, as one JSON object,
when the component answered again. One small full-stack run (1 worker of 1g), back-off 1 s.
The scenario-file faults (scenarios/faults.yaml) run in `tox -e faults`. Times are printed."""
from __future__ import annotations

import json

import pytest
from live import sim
from test_controller import env, run  # noqa: F401 - the module's run fixtures

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _chaos(run_id: str, env: dict, *args: str) -> tuple[int, dict, str]:
    out = sim("chaos", run_id, *args, env=env, timeout=400)
    print(out.stderr[-1500:])
    return out.returncode, (json.loads(out.stdout) if out.stdout.strip() else {}), out.stderr


def test_chaos_kill_api_says_what_and_when_it_answered(run, env):  # noqa: F811
    run_id, _ = run
    code, summary, err = _chaos(run_id, env, "kill", "api", "--wait", "60")
    assert code == 0, err
    assert summary["action"] == "kill" and summary["target"].endswith("api-service-0")
    assert summary["what"].startswith("pid ")
    assert summary["answered_again_after_s"] is not None
    assert "answered again after" in err


def test_chaos_kill_worker_and_master_come_back_registered(run, env):  # noqa: F811
    run_id, _ = run
    code, summary, err = _chaos(run_id, env, "kill", "worker[0]", "--wait", "180")
    assert code == 0 and "1 worker(s) ALIVE" in summary["seen"], (summary, err)
    code, summary, err = _chaos(run_id, env, "kill", "master", "--wait", "180")
    assert code == 0 and summary["seen"].startswith("master ALIVE"), (summary, err)


def test_chaos_restart_worker_is_graceful_and_registers_again(run, env):  # noqa: F811
    run_id, _ = run
    code, summary, err = _chaos(run_id, env, "restart", "worker[0]", "--wait", "180")
    assert code == 0 and summary["action"] == "restart", (summary, err)
    assert summary["what"].startswith("pid ") and "1 worker(s) ALIVE" in summary["seen"]


def test_chaos_oauth_stays_down_until_restarted(run, env):  # noqa: F811
    run_id, _ = run
    code, summary, err = _chaos(run_id, env, "kill", "oauth", "--wait", "3")
    assert code == 1 and summary["answered_again_after_s"] is None, (summary, err)
    assert "did NOT answer within 3s" in err
    code, summary, err = _chaos(run_id, env, "restart", "oauth", "--wait", "30")
    assert code == 0 and summary["answered_again_after_s"] is not None, (summary, err)


def test_chaos_scale_and_bad_targets(run, env):  # noqa: F811
    run_id, _ = run
    code, summary, err = _chaos(run_id, env, "scale", "workers", "2", "--wait", "120")
    assert code == 0 and summary["what"] == "1 -> 2", (summary, err)
    code, _, err = _chaos(run_id, env, "kill", "worker[5]")
    assert code == 1 and "worker[0]..worker[1]" in err, err
    code, _, err = _chaos(run_id, env, "scale", "api", "2")
    assert code == 1 and "chaos RUN_ID scale workers N" in err, err
