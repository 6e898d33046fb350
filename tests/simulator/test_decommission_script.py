"""images/spark-job/decommission.sh (the worker's preStop) against a stand-in worker: a real
process that handles SIGPWR as Spark's Worker does (it keeps running) and serves a worker UI's
/json/ over real HTTP, busy until it has been signalled and asked a few times. No JVM needed:
the real worker is exercised by test_scale_down.py."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "images" / "spark-job" / "decommission.sh"
# A worker stand-in: SIGPWR starts the drain; /json/ reports used memory until `busy` more looks.
WORKER = r"""
import json, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
busy = int(sys.argv[1])
state = {"signalled": False, "looks": 0}
signal.signal(signal.SIGPWR, lambda *_: state.update(signalled=True))
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        if state["signalled"]:
            state["looks"] += 1
        used = 0 if state["signalled"] and state["looks"] > busy else 512
        body = json.dumps({"id": "worker-x", "coresused": 1 if used else 0,
                           "memoryused": used}, indent=2).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = HTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


@pytest.fixture
def worker(tmp_path, request):
    busy = getattr(request, "param", 2)
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(busy)], stdout=subprocess.PIPE,
                            text=True)
    port = int(proc.stdout.readline())
    work = tmp_path / "work"
    work.mkdir()
    (work / ".worker.pid").write_text(f"{proc.pid}\n")
    env = dict(os.environ, SPARK_WORKER_DECOMMISSION="true", SPARK_WORKER_DIR=str(work),
               POD_IP="127.0.0.1", SPARK_WORKER_WEBUI_PORT=str(port),
               SPARK_DECOMMISSION_REPORT_SECONDS="1")
    yield proc, env
    proc.kill()
    proc.wait()


def _run(env: dict[str, str], max_seconds: str = "30") -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), max_seconds], env=env, capture_output=True,
                          text=True, timeout=60)


def test_signals_the_worker_and_waits_until_nothing_runs_there(worker):
    proc, env = worker
    out = _run(env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"sent SIGPWR to the worker (pid {proc.pid}" in out.stdout
    assert "still hosting 512 MB / 1 cores" in out.stdout
    assert "no driver or executor left on the worker" in out.stdout
    assert proc.poll() is None, "SIGPWR decommissions, it does not stop the worker"


@pytest.mark.parametrize("worker", [10_000], indirect=True)
def test_gives_up_after_max_seconds_and_says_what_is_left(worker):
    _proc, env = worker
    out = _run(env, "2")
    assert out.returncode == 1
    assert re.search(r"gave up after \d+s: the worker is still hosting 512 MB / 1 cores",
                     out.stdout), out.stdout


def test_off_sends_nothing(worker):
    proc, env = worker
    out = _run(dict(env, SPARK_WORKER_DECOMMISSION="false"))
    assert out.returncode == 0 and "nothing to do" in out.stdout
    assert proc.poll() is None


def test_a_worker_already_gone_is_fine(worker, tmp_path):
    _proc, env = worker
    gone = tmp_path / "gone"
    gone.mkdir()
    (gone / ".worker.pid").write_text("999999999\n")
    out = _run(dict(env, SPARK_WORKER_DIR=str(gone)))
    assert out.returncode == 0 and "is not running" in out.stdout


@pytest.mark.parametrize("setup, arg, message", [
    ("no-pid-file", "30", ".worker.pid: the worker was not started by entrypoint.sh"),
    ("bad-pid", "30", "holds 'abc', not a PID"),
    ("ok", "soon", "MAX_SECONDS='soon' is not a number of seconds"),
])
def test_bad_setups_exit_78_naming_the_problem(worker, tmp_path, setup, arg, message):
    _proc, env = worker
    work = tmp_path / "other"
    work.mkdir()
    if setup == "bad-pid":
        (work / ".worker.pid").write_text("abc\n")
    if setup != "ok":
        env = dict(env, SPARK_WORKER_DIR=str(work))
    out = _run(env, arg)
    assert out.returncode == 78 and message in out.stderr, out.stderr
