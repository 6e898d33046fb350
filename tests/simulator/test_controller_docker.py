"""The run's controller on the docker backend: a killed API container comes back by itself.

Needs a Docker engine (``tox -e docker``); skipped with the reason without one. The back-off is
shortened (1 s doubling to 10 s) through the environment the controller inherits from ``up``.
"""
from __future__ import annotations

import pytest
from live import SETS, backoff_env, healthz, live_run, pod_of, poll, run_status

from simulator import images
from simulator.backends.docker.engine import docker
from simulator.run import RunState

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_killed_api_container_comes_back(runs_dir):
    if not images.docker_reachable():
        pytest.skip("no Docker engine answers: run `python -m simulator.images --ensure-docker`"
                    " (tox -e docker does) or set DOCKER_HOST")
    env = backoff_env(runs_dir)
    with live_run(env, *SETS, backend="docker", timeout=900) as out:
        run_id = out["run_id"]
        api = next(r for r in RunState.load(run_id).pods.values() if r.component == "api")
        docker("kill", "-s", "KILL", api.container or "")
        # the container's published port changes with its restart: run.json follows it
        poll("the API answers again (no command)",
             lambda: healthz(RunState.load(run_id).outputs["api_url"]), timeout=120)
        pod = poll("status shows the restart",
                   lambda: (p := pod_of(run_status(run_id, env), "api"))["restarts"] == 1 and p, 60,
                   every=1)
        assert pod["last_exit"] == "exited with code 137", pod
    assert "stopped the run's controller" in out["down_stderr"]
