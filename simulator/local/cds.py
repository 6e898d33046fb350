"""Once per machine: the AppCDS archives that spark-job JVMs map, made by the image's make-cds.sh.

Why: the image bakes its archives at build time; local processes have no build, so without this
the master's and worker's archives appear only after a first graceful stop, and the one drivers
and executors share (made by a real warm-up job, see make-cds.sh) never would. With it a trivial
job runs in about half the time (bench/job_cds_bench.py).

The archives live in the machine's cache (``simulator.local.spark.cds_cache()``, by default
``~/.cache/spark-stack/cds``) and are named by ``images/spark-job/jvm-cds.sh`` after the Spark
version, the Java version and a hash of the classpath's two paths (the conf dir and SPARK_HOME).
SPARK_HOME is the stable Spark home of ``simulator.local.spark`` (one per Spark build, not per
virtualenv), so a second virtualenv finds the archives the first one made: ``ensure_archives``
then says "reusing" and starts nothing. Otherwise ``make-cds.sh --if-missing`` makes what is
missing (~60-70 s on 2 cores) under an exclusive lock, so two runs never warm up at once.
A failed warm-up is reported and ignored: every JVM then simply starts without CDS.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from simulator.local.cache import MARKER
from simulator.local.loopback import free_block
from simulator.run import REPO

SPARK_IMAGE = REPO / "images" / "spark-job"
MAKE_CDS = SPARK_IMAGE / "make-cds.sh"
JVM_CDS = SPARK_IMAGE / "jvm-cds.sh"
SPARK_JOBS = SPARK_IMAGE / "jobs"
# make-cds.sh runs a master and a worker on one address with the image's default ports.
_PORTS = (7077, 8080, 6066, 7078, 8081)
_checked: set[tuple[Path, str]] = set()


def _base_env(cds_dir: Path, spark_home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "JAVA_HOME", "LANG", "LC_ALL", "TZ")}
    env.update(SPARK_HOME=spark_home, SPARK_CDS_DIR=str(cds_dir), PYSPARK_PYTHON=sys.executable,
               SPARK_JOBS_DIR=str(SPARK_JOBS), SPARK_DAEMON_MEMORY="512m")
    return env


def archive_paths(cds_dir: Path, spark_home: str) -> list[Path]:
    """The master, worker and job archives the entrypoint maps for this home (jvm-cds.sh names
    them; the conf dir is its default, as for every local Spark process)."""
    out = subprocess.run(
        ["bash", "-c", f'. "{JVM_CDS}" && daemon_archive master && daemon_archive worker '
                       f'&& job_archive'],
        env=_base_env(cds_dir, spark_home), capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"jvm-cds.sh could not name the archives: {out.stderr.strip()}")
    return [Path(line) for line in out.stdout.split()]


def ensure_archives(cds_dir: Path, spark_home: str | Path,
                    progress: Callable[[str], None]) -> bool:
    """Make whatever archive is missing in ``cds_dir``; True when all are there afterwards."""
    cds_dir = Path(cds_dir).resolve()
    spark_home = str(spark_home)
    if (cds_dir, spark_home) in _checked:
        return True
    cds_dir.mkdir(parents=True, exist_ok=True)
    try:
        archives = archive_paths(cds_dir, spark_home)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        progress(f"JVM fast start: cannot name the CDS archives ({exc}); JVMs start without them")
        return False
    if _reuse(archives, cds_dir, spark_home, progress):
        return True
    env = _base_env(cds_dir, spark_home)
    env["POD_IP"] = free_block(_PORTS, hosts=1) + ".1"
    with open(cds_dir / ".make-cds.lock", "w") as lock:
        waited = time.monotonic()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"JVM fast start: another run is making the CDS archives in {cds_dir};"
                     " waiting for it (up to a few minutes, once per machine)")
            fcntl.flock(lock, fcntl.LOCK_EX)
            progress(f"JVM fast start: waited {time.monotonic() - waited:.0f} s")
            if _reuse(archives, cds_dir, spark_home, progress):
                return True
        _drop_stale(archives, spark_home, progress)
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
    _checked.add((cds_dir, spark_home))
    return True


def _reuse(archives: list[Path], cds_dir: Path, spark_home: str,
           progress: Callable[[str], None]) -> bool:
    """True (and says so) when every archive is there: nothing to make."""
    if not archives or not all(_nonempty(a) for a in archives):
        return False
    if _stale(archives, spark_home):
        return False
    made = max(a.stat().st_mtime for a in archives)
    progress(f"JVM fast start: reusing CDS archives in {cds_dir} (made "
             f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(made))}, "
             f"for SPARK_HOME {spark_home})")
    _checked.add((cds_dir, spark_home))
    return True


def _home_made(spark_home: str) -> float:
    """When a stable Spark home was made (0 for any other Spark home: nothing to compare)."""
    try:
        return (Path(spark_home) / MARKER).stat().st_mtime
    except OSError:
        return 0.0


def _stale(archives: list[Path], spark_home: str) -> list[Path]:
    """Archives older than their Spark home: made for an earlier home at the same path (the
    cache's ``spark/`` was removed and remade), whose jars had other mtimes; the JVM would
    refuse them, and make-cds.sh --if-missing would not replace them."""
    made = _home_made(spark_home)
    return [a for a in archives if _nonempty(a) and a.stat().st_mtime < made]


def _drop_stale(archives: list[Path], spark_home: str, progress: Callable[[str], None]) -> None:
    for archive in _stale(archives, spark_home):
        progress(f"JVM fast start: {archive.name} predates the Spark home {spark_home}; "
                 "making it again")
        archive.unlink(missing_ok=True)


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False
