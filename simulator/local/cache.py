"""The machine's cache: one stable Spark home per Spark build, and the AppCDS archives made for it.

Layout (``cache_root()``: ``$SPARK_STACK_CACHE``, else ``$XDG_CACHE_HOME/spark-stack``, else
``~/.cache/spark-stack``)::

    spark/<version>-<hash>/        a Spark home: bin/ jars/ sbin/ python/ from the pyspark package
    spark/<version>-<hash>/.spark-stack-home.json   where and when it was made (not on any path)
    spark/.lock                    held while a home is being made
    cds/                           the AppCDS archives (``$SPARK_STACK_CDS_DIR`` overrides it),
                                   named by images/spark-job/jvm-cds.sh, made by make-cds.sh

Why a copy of the pyspark package instead of the package itself: a CDS archive is valid only for
the classpath it was made with, and JDK 17 checks every jar on it by path, size and modification
time. SPARK_HOME = the pyspark directory inside a virtualenv puts that virtualenv's path (and its
jars' install times) into every archive, so each fresh tox env re-made them (~60-70 s on 2
cores). A symlink to the current virtualenv would keep the path but not the jars' mtimes (pip
writes them at install time), and the JVM refuses the archive ("A jar file is not the one used
while building the shared archive file"). So the home is a real directory of its own: made once
per Spark build, keyed by the version and a hash of the jar names and sizes, filled with hard
links to the installed files (copies keeping their mtimes where hard links are impossible),
renamed into place only when complete, under a file lock, and never modified afterwards. Every
later virtualenv with the same pyspark maps to the same directory and its archives stay valid.

Drivers still run the job scripts with the virtualenv's python (``PYSPARK_PYTHON``): that
python imports pyspark from ``python/lib/pyspark.zip`` here (Spark puts it first on PYTHONPATH),
the same version as its own site-packages. The home's zips get this python's bytecode when the
home is made (images/spark-job/precompile.py, as the image build does): without it every job's
driver and executor Python compiled pyspark again (~0.7 s of CPU each). The precompiled zips
are new files in the home, never written through the hard links.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from simulator.run import REPO

# What spark-class, the daemons and the drivers need from the pyspark package.
HOME_PARTS = ("bin", "jars", "sbin", "python")
MARKER = ".spark-stack-home.json"
PRECOMPILE = REPO / "images" / "spark-job" / "precompile.py"
# Part of the home's key: a home made before its zips were precompiled is not reused.
HOME_LAYOUT = "precompiled-zips"


def cache_root() -> Path:
    """The per-user cache of everything made once per machine (Spark home, JVM archives, helm
    CLIs): ``$SPARK_STACK_CACHE``, else ``$XDG_CACHE_HOME/spark-stack``, else
    ``~/.cache/spark-stack``."""
    if os.environ.get("SPARK_STACK_CACHE"):
        return Path(os.environ["SPARK_STACK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "spark-stack"


def cds_cache() -> Path:
    """Where the machine's AppCDS archives live: ``$SPARK_STACK_CDS_DIR``, else ``<cache>/cds``."""
    env = os.environ.get("SPARK_STACK_CDS_DIR")
    return Path(env) if env else cache_root() / "cds"


def pyspark_dir() -> Path:
    """The installed pyspark package directory (found without importing pyspark)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.origin:
        raise RuntimeError("pyspark is not installed: pip install 'spark-stack[spark]' "
                           "(the Spark the local components run comes from it)")
    return Path(spec.origin).resolve().parent


def home_key(source: Path) -> str:
    """``<spark version>-<12 hex of sha256 over the jar names and sizes and HOME_LAYOUT>``."""
    jars_dir = source / "jars"
    try:
        jars = sorted((p.name, p.stat().st_size) for p in jars_dir.iterdir() if p.is_file())
    except OSError as exc:
        raise RuntimeError(f"{jars_dir}: {exc}; is pyspark installed completely?") from exc
    if not jars:
        raise RuntimeError(f"{jars_dir} has no jars; reinstall pyspark")
    version = "unknown"
    for name, _size in jars:
        if name.startswith("spark-core_") and name.endswith(".jar"):
            version = name[len("spark-core_"):-4].split("-", 1)[-1]  # 2.13-4.3.0 -> 4.3.0
            break
    listing = "".join(f"{n}\t{s}\n" for n, s in jars) + HOME_LAYOUT
    digest = hashlib.sha256(listing.encode()).hexdigest()
    return f"{version}-{digest[:12]}"


def stable_spark_home(source: Path, root: Path) -> Path:
    """The stable home under ``root`` for the Spark in ``source``; made once if missing."""
    target = root / home_key(source)
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():          # another process made it while we waited
            return target
        for stale in root.glob(".*.tmp"):   # left by a process killed mid-copy
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f".{target.name}.{os.getpid()}.tmp"
        began = time.monotonic()
        counts = {"linked": 0, "copied": 0}
        for part in HOME_PARTS:
            if (source / part).is_dir():
                _link_tree(source / part, tmp / part, counts)
        if (tmp / "python" / "lib").is_dir():
            subprocess.run([sys.executable, str(PRECOMPILE), str(tmp)], check=True,
                           stdout=subprocess.DEVNULL, timeout=600)
        (tmp / MARKER).write_text(json.dumps({
            "source": str(source), "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.monotonic() - began, 3), **counts}, indent=1) + "\n")
        os.rename(tmp, target)
    return target


def _link_tree(src: Path, dst: Path, counts: dict[str, int]) -> None:
    dst.mkdir(parents=True)
    for entry in os.scandir(src):
        if entry.name == "__pycache__":
            continue
        out = dst / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), out)
        elif entry.is_dir():
            _link_tree(Path(entry.path), out, counts)
        else:
            try:
                os.link(entry.path, out)
                counts["linked"] += 1
            except OSError:              # another filesystem, or links not allowed
                shutil.copy2(entry.path, out)
                counts["copied"] += 1


@functools.cache
def _spark_home(source: Path, root: Path) -> Path:
    return stable_spark_home(source, root)


def spark_home() -> Path:
    """This machine's stable Spark home for the installed pyspark (made on first use)."""
    return _spark_home(pyspark_dir(), cache_root() / "spark")
