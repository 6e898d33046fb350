"""The run's controller on the process backend, against real JVMs, the real API and real probes.

One small full-stack run (1 worker of 1g), brought up by ``python -m simulator up`` as a
subprocess that exits, as a user's would: everything below happens with no command but the
faults themselves. The back-off is shortened (1 s doubling to 10 s) through the environment the
controller inherits. Times are printed, not asserted, except the issue's 15 s contract.
"""
from __future__ import annotations

import json
import os
import signal

import psutil
import pytest
from live import SETS, backoff_env, healthz, live_run, pod_of, poll, run_status, sim
from test_process_backend import _assert_nothing_left

from simulator.local.procs import ProcRecord
from simulator.run import CONTROLLER, RunState
from simulator.stack import Stack

pytestmark = [pytest.mark.spark, pytest.mark.slow]
# The API's probes every 2 s (readiness) and 3 s (liveness) instead of the chart's 10 s and 20 s,
# with its timeouts and thresholds: the hung-API test waits ~15 s for what takes ~70 s by default.
PROBES = ["--set", "api-service.probes.readiness.periodSeconds=2",
          "--set", "api-service.probes.liveness.periodSeconds=3"]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(scope="module")
def env(runs_dir, needs_spark):
    return backoff_env(runs_dir)


@pytest.fixture(scope="module")
def run(env):
    """(run id, up's JSON): the CLI that brought it up has exited."""
    with live_run(env, *SETS, *PROBES) as out:
        yield out["run_id"], out


def test_controller_outlives_the_cli_and_is_recorded(run, env):
    run_id, out = run
    state = RunState.load(run_id)
    rec = ProcRecord.from_json(state.extras[CONTROLLER].proc)
    assert rec.alive(), f"the controller died; {state.dir / 'controller.log'}"
    assert run_status(run_id, env)["controller"] is True
    assert healthz(out["api_url"])


def test_sigkilled_api_answers_again_without_any_command(run, env):
    run_id, out = run
    stack = Stack.load(run_id)
    api = next(p for p, r in stack.state.pods.items() if r.component == "api")
    print("killed", stack.backend.kill_pod(api))
    poll("API /healthz answers again through its Service", lambda: healthz(out["api_url"]),
          timeout=15)
    pod = poll("status shows the restart",
               lambda: (p := pod_of(run_status(run_id, env), "api"))["restarts"] == 1 and p, 30,
               every=1)
    assert pod["ready"] and pod["alive"]
    text = sim("status", run_id, env=env).stdout
    assert "RESTARTS" in text and api in text, text
    # started by the CLI that has exited: its exit status was reaped by init, the controller
    # knows only that it ended; the restarted one is the controller's own child
    assert pod["last_exit"].startswith(("exited", "killed")), pod
    print("killed again", Stack.load(run_id).backend.kill_pod(api))
    pod = poll("second restart after the back-off",
               lambda: (p := pod_of(run_status(run_id, env), "api"))["restarts"] == 2 and p, 60,
               every=1)
    assert pod["last_exit"] == "killed by SIGKILL (exit code 137)", pod
    poll("API /healthz answers again", lambda: healthz(out["api_url"]), timeout=60)
    log = (RunState.load(run_id).dir / "controller.log").read_text()
    assert "restart 2 in 1s" in log, log[-2000:]


def test_sigkilled_worker_is_restarted_and_registers_again(run, env):
    run_id, out = run
    stack = Stack.load(run_id)
    worker = next(p for p, r in stack.state.pods.items() if r.component == "worker")
    before = stack.state.pods[worker].restarts

    def alive_ids() -> set[str]:
        return {w["id"] for w in stack.master_json()["workers"] if w["state"] == "ALIVE"}

    old = alive_ids()
    print("killed", stack.backend.kill_pod(worker))

    def registered() -> bool:
        st = run_status(run_id, env)
        return (pod_of(st, "worker")["restarts"] == before + 1 and st["alive_workers"] == 1
                and bool(alive_ids() - old))  # a new registration, not the dead one

    poll("the master counts the restarted worker ALIVE", registered, timeout=240, every=1)
    assert pod_of(run_status(run_id, env), "worker")["last_exit"]


def test_hung_api_leaves_the_service_then_liveness_restarts_it(run, env):
    run_id, out = run
    state = RunState.load(run_id)
    api = next(r for r in state.pods.values() if r.component == "api")
    before = api.restarts
    pid = ProcRecord.from_json(api.proc).pid
    os.kill(pid, signal.SIGSTOP)  # /healthz and /readyz now hang: probes time out
    try:
        def out_of_service() -> bool:
            proxy = json.loads((state.dir / "proxy.json").read_text())
            targets = [t for lst in proxy["listeners"] for t in lst["targets"]
                       if t[0] == api.ip]
            return not RunState.load(run_id).pods[api.name].ready and not targets

        poll("the not-ready API pod is out of the Service's endpoints", out_of_service,
             timeout=120, every=1)
        pod = poll("the liveness probe restarts the hung API",
                   lambda: (p := pod_of(run_status(run_id, env), "api"))["restarts"] == before + 1
                   and p, timeout=300, every=2)
        assert pod["last_exit"].startswith("liveness probe failed"), pod
        assert _gone(pid), "the hung process was not stopped before its restart"
    finally:
        if psutil.pid_exists(pid):
            os.kill(pid, signal.SIGCONT)
    poll("API /healthz answers again", lambda: healthz(out["api_url"]), timeout=120)


def test_down_stops_the_controller_first_and_leaves_nothing(run, env):
    run_id, _ = run
    controller = ProcRecord.from_json(RunState.load(run_id).extras[CONTROLLER].proc)
    down = sim("down", run_id, env=env, timeout=300)
    assert down.returncode == 0, down.stderr
    assert "stopped the run's controller" in down.stderr
    assert down.stderr.index("stopped the run's controller") < down.stderr.index("down ")
    assert not controller.alive()
    _assert_nothing_left(RunState.load(run_id))
