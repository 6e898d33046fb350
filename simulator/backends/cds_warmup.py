"""Once per machine: the AppCDS archives that spark-job pods map, made by the image's make-cds.sh.

Why: the image bakes its archives at build time; the process backend has no build, so without
this the master's and worker's archives appear only after a first graceful stop, and the one
drivers and executors share (made by a real warm-up job, see make-cds.sh) never would. With it a
trivial job runs in about half the time (bench/job_cds_bench.py). The archives live in a shared
cache (``~/.cache/spark-stack/cds``): ``make-cds.sh --if-missing`` returns at once when they are
all there, and an exclusive lock keeps two simulator runs from warming up at the same time.
A failed warm-up is reported and ignored: every JVM then simply starts without CDS.
"""
from __future__ import annotations

import fcntl
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from simulator.run import REPO

MAKE_CDS = REPO / "images" / "spark-job" / "make-cds.sh"
SPARK_JOBS = REPO / "images" / "spark-job" / "jobs"
# make-cds.sh runs a master and a worker on one address with the image's default ports.
_PORTS = (7077, 8080, 6066, 7078, 8081)
_checked: set[Path] = set()


def _free_loopback() -> str:
    """A 127.x.y.1 (x, y in 10..250) where none of the daemons' ports is taken."""
    for _ in range(50):
        ip = f"127.{random.randint(10, 250)}.{random.randint(10, 250)}.1"
        try:
            for port in _PORTS:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind((ip, port))
        except OSError:
            continue
        return ip
    raise RuntimeError("no free loopback address for the CDS warm-up after 50 tries")


def ensure_archives(cds_dir: Path, spark_home: str,
                    progress: Callable[[str], None]) -> bool:
    """Make whatever archive is missing in ``cds_dir``; True when all are there afterwards."""
    cds_dir = cds_dir.resolve()
    if cds_dir in _checked:
        return True
    cds_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "JAVA_HOME", "LANG", "LC_ALL", "TZ")}
    env.update(SPARK_HOME=spark_home, SPARK_CDS_DIR=str(cds_dir), PYSPARK_PYTHON=sys.executable,
               SPARK_JOBS_DIR=str(SPARK_JOBS), SPARK_DAEMON_MEMORY="512m",
               POD_IP=_free_loopback())
    with open(cds_dir / ".make-cds.lock", "w") as lock:
        waited = time.monotonic()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"JVM fast start: another run is making the CDS archives in {cds_dir};"
                     " waiting for it (up to a few minutes, once per machine)")
            fcntl.flock(lock, fcntl.LOCK_EX)
            progress(f"JVM fast start: waited {time.monotonic() - waited:.0f} s")
        began = time.monotonic()
        proc = subprocess.Popen(["bash", str(MAKE_CDS), "--if-missing"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if line.startswith("make-cds:"):
                progress("JVM fast start: " + line.rstrip())
        code = proc.wait()
    if code != 0:
        progress(f"JVM fast start: making the CDS archives failed (exit {code}) after "
                 f"{time.monotonic() - began:.0f} s; JVMs start without them. Last lines:\n"
                 + "\n".join(lines[-15:]))
        return False
    _checked.add(cds_dir)
    return True
