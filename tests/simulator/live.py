"""Helpers for the tests that drive a live run the way a user does: ``python -m simulator up`` as
a subprocess that exits (its controller keeps the run), the CLI for everything after, and
``down`` at the end. The controller's restart back-off is shortened (1 s doubling to 10 s)
through the environment it inherits."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from simulator.controller import BACKOFF_CAP_ENV, BACKOFF_ENV
from simulator.run import REPO

# One worker of 1g holds a job's driver and its executor.
SETS = ["--set", "spark-job.spark.worker.replicas=1", "--set", "spark-job.spark.worker.memory=1g"]


def backoff_env(runs_dir: Path) -> dict[str, str]:
    """The environment for the CLI: this runs dir, the repo importable, back-off 1 s (cap 10 s)."""
    return dict(os.environ, PYTHONPATH=str(REPO), SPARK_STACK_RUNS_DIR=str(runs_dir),
                **{BACKOFF_ENV: "1", BACKOFF_CAP_ENV: "10"})


def sim(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_status(run_id: str, env: dict[str, str]) -> dict:
    out = sim("status", run_id, "--json", env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def pod_of(status: dict, component: str) -> dict:
    return next(p for p in status["pods"] if p["component"] == component)


def healthz(url: str) -> bool:
    return httpx.get(f"{url}/healthz", timeout=2, trust_env=False).status_code == 200


def poll(what: str, check, timeout: float, every: float = 0.25):
    """Call ``check`` until it returns something truthy; print how long it took. A check that
    runs the CLI costs ~0.5 s of CPU per call: poll those every second or more."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            last = check()
        except (OSError, httpx.HTTPError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if last:
                print(f"{what}: after {time.monotonic() - t0:.1f}s")
                return last
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout:.0f}s; last seen: {last}")


@contextmanager
def live_run(env: dict[str, str], *sets: str, backend: str = "process",
             timeout: float = 600) -> Iterator[dict]:
    """``up full-stack`` with ``sets``; yields up's JSON (``run_id``, ``run_dir``, URLs).

    Every run that ``up`` left in the runs dir is brought down at the end, whatever ``up``
    printed, with the tail of its controller's log; ``down`` must succeed when the body did,
    and what it printed is then in the yielded dict's ``down_stderr``."""
    runs_dir = Path(env["SPARK_STACK_RUNS_DIR"])
    before = {p.parent.name for p in runs_dir.glob("*/run.json")}
    extra = [] if backend == "process" else ["--backend", backend]
    up = sim("up", "full-stack", *extra, *sets, "--json", env=env, timeout=timeout)
    runs = sorted({p.parent.name for p in runs_dir.glob("*/run.json")} - before)
    downs = []
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        out = json.loads(up.stdout)
        assert runs == [out["run_id"]], (runs, out["run_id"])
        yield out
    finally:
        for run_id in runs:
            log = runs_dir / run_id / "controller.log"
            if log.exists():
                print(f"--- {run_id}: controller.log ---\n{log.read_text()[-4000:]}")
            downs.append(sim("down", run_id, env=env, timeout=300))
    for down in downs:
        assert down.returncode == 0, down.stderr
    out["down_stderr"] = "".join(down.stderr for down in downs)
