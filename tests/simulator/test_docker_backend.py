"""The docker backend with the real images: each scenario's checks, the lockdown every container
runs under, and ``down`` after the simulator was SIGKILLed in the middle of ``up``.

Needs a Docker engine (``tox -e docker`` installs and starts one on Debian); without one the
tests are skipped with the reason.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator import images
from simulator.backends.docker import engine
from simulator.check import CheckResult, check_scenario
from simulator.scenarios import load, names

pytestmark = [pytest.mark.docker, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
SCENARIOS = names(faults=False)  # fault steps are not run on docker yet (docs/reliability.md)


@pytest.fixture(scope="module")
def docker_engine() -> None:
    if not images.docker_reachable():
        pytest.skip("no Docker engine answers: run `python -m simulator.images --ensure-docker`"
                    " (tox -e docker does) or set DOCKER_HOST")


def lockdown(stack) -> list[CheckResult]:
    """Every container of the run (pods and what runs outside the release): an arbitrary UID
    >= 1000000000 with GID 0, read-only root, no capabilities, no-new-privileges."""
    out = []
    for cid in engine.by_label("container", stack.state.run_id):
        info = engine.inspect(cid) or {}
        name = info.get("Name", cid).lstrip("/")
        ids = engine.docker("exec", cid, "id", "-u", check=False).stdout.split() + \
            engine.docker("exec", cid, "id", "-g", check=False).stdout.split()
        write = engine.docker("exec", cid, "touch", "/opt/probe-write", check=False)
        host = info.get("HostConfig", {})
        ok = (len(ids) == 2 and int(ids[0]) >= 1_000_000_000 and ids[1] == "0"
              and host.get("ReadonlyRootfs") is True and write.returncode != 0
              and "ALL" in (host.get("CapDrop") or [])
              and "no-new-privileges" in (host.get("SecurityOpt") or []))
        out.append(CheckResult(f"lockdown {name}", ok,
                               f"uid:gid {':'.join(ids)}, read-only root "
                               f"{host.get('ReadonlyRootfs')} (write: exit {write.returncode}),"
                               f" cap-drop {host.get('CapDrop')}, {host.get('SecurityOpt')}"))
    assert out, "no container carries the run's label"
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_checks_on_docker(name, runs_dir, docker_engine):
    report = check_scenario(load(name), "docker", more=lockdown)
    failed = [f"{r.name}: {r.detail}" for r in report.results if not r.ok]
    assert report.passed, (report.error, failed, report.leftovers)
    assert any(r.name.startswith("lockdown") for r in report.results)
    run_id = next(p.name for p in runs_dir.glob(f"{name}-*") if (p / "run.json").exists()
                  and json.loads((p / "run.json").read_text())["backend"] == "docker"
                  and json.loads((p / "run.json").read_text())["stopped"])
    for kind in ("container", "network", "volume"):
        assert engine.by_label(kind, run_id) == [], kind


def test_down_after_the_simulator_was_sigkilled(runs_dir, docker_engine):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    sim = subprocess.Popen([sys.executable, "-m", "simulator", "up", "spark-only",
                            "--backend", "docker"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    run_id = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and run_id is None:
            for p in runs_dir.glob("spark-only-*/run.json"):
                data = json.loads(p.read_text())
                if data["backend"] == "docker" and not data["stopped"] and any(
                        pod.get("container") for pod in data["pods"].values()):
                    run_id = p.parent.name
            time.sleep(0.2)
        assert run_id is not None, "the simulator never recorded a container"
    finally:
        os.killpg(sim.pid, signal.SIGKILL)
        sim.wait()
    assert engine.by_label("container", run_id), "a container should outlive the simulator"
    down = subprocess.run([sys.executable, "-m", "simulator", "down", run_id], env=env,
                          capture_output=True, text=True, timeout=300)
    assert down.returncode == 0, down.stderr
    for kind in ("container", "network", "volume"):
        assert engine.by_label(kind, run_id) == [], kind
