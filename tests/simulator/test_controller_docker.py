"""The run's controller on the docker backend: a killed API container comes back by itself.

Needs a Docker engine (``tox -e docker``); skipped with the reason without one. The back-off is
shortened (1 s doubling to 10 s) through the environment the controller inherits from ``up``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_controller import SETS, _healthz, _pod, _poll, _status

from simulator import images
from simulator.backends.docker.engine import docker
from simulator.controller import BACKOFF_CAP_ENV, BACKOFF_ENV
from simulator.run import RunState

pytestmark = [pytest.mark.docker, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def test_killed_api_container_comes_back(runs_dir):
    if not images.docker_reachable():
        pytest.skip("no Docker engine answers: run `python -m simulator.images --ensure-docker`"
                    " (tox -e docker does) or set DOCKER_HOST")
    env = dict(os.environ, PYTHONPATH=str(REPO), SPARK_STACK_RUNS_DIR=str(runs_dir),
               **{BACKOFF_ENV: "1", BACKOFF_CAP_ENV: "10"})
    before = {p.parent.name for p in runs_dir.glob("*/run.json")}
    up = subprocess.run([sys.executable, "-m", "simulator", "up", "full-stack", "--backend",
                         "docker", *SETS, "--json"], env=env, capture_output=True, text=True,
                        timeout=900)
    # whatever `up` printed, its run exists now and is removed at the end
    runs = sorted({p.parent.name for p in runs_dir.glob("*/run.json")} - before)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        run_id = json.loads(up.stdout)["run_id"]
        assert runs == [run_id]
        api = next(r for r in RunState.load(run_id).pods.values() if r.component == "api")
        docker("kill", "-s", "KILL", api.container or "")
        # the container's published port changes with its restart: run.json follows it
        _poll("the API answers again (no command)",
              lambda: _healthz(RunState.load(run_id).outputs["api_url"]), timeout=120)
        pod = _poll("status shows the restart",
                    lambda: (p := _pod(_status(run_id, env), "api"))["restarts"] == 1 and p, 60)
        assert pod["last_exit"] == "exited with code 137", pod
    finally:
        downs = [subprocess.run([sys.executable, "-m", "simulator", "down", rid], env=env,
                                capture_output=True, text=True, timeout=300) for rid in runs]
    [down] = downs
    assert down.returncode == 0, down.stderr
    assert "stopped the run's controller" in down.stderr
