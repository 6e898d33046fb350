"""images/spark-job/precompile.py: the zips Spark puts first on a job's PYTHONPATH carry this
Python's bytecode, imports from them behave exactly as from the source, and another Python's
bytecode (or none) never breaks an import. No JVM: a small zip shaped like pyspark.zip, and the
Spark home's real one in a copy."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from simulator.local import spark_home
from simulator.local.cache import PRECOMPILE


def _run(*argv: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """A Spark home whose python/lib holds one zip with a package that raises on demand."""
    lib = tmp_path / "python" / "lib"
    lib.mkdir(parents=True)
    with zipfile.ZipFile(lib / "pkg.zip", "w") as zf:
        zf.writestr("pkg/__init__.py", "VALUE = 6 * 7\n")
        zf.writestr("pkg/boom.py", "def boom():\n    raise ValueError('from the source')\n")
    return tmp_path


def test_modules_load_from_bytecode_with_the_source_s_behaviour_and_tracebacks(
        home: Path) -> None:
    zip_path = home / "python" / "lib" / "pkg.zip"
    linked = home / "linked.zip"
    os.link(zip_path, linked)  # the stable home hard-links the installed zip
    done = _run(str(PRECOMPILE), str(home))
    assert done.returncode == 0, done.stderr
    assert "pkg.zip: 2 module(s) compiled" in done.stdout
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.read("pkg/boom.pyc")[:4] == importlib.util.MAGIC_NUMBER
    with zipfile.ZipFile(linked) as zf:  # replaced, not written through the link
        assert not any(n.endswith(".pyc") for n in zf.namelist())

    probe = ("import pkg, pkg.boom, traceback\n"
             "print(pkg.VALUE, pkg.boom.__file__)\n"
             "try:\n    pkg.boom.boom()\nexcept ValueError:\n    traceback.print_exc()\n")
    seen = _run("-c", probe, pythonpath=zip_path)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.startswith("42 ") and seen.stdout.strip().endswith("boom.pyc")
    # the traceback names the source inside the zip and shows its line, as before
    assert f"{zip_path}{os.sep}pkg/boom.py" in seen.stderr
    assert "raise ValueError('from the source')" in seen.stderr

    again = _run(str(PRECOMPILE), str(home))
    assert "pkg.zip: 0 module(s) compiled" in again.stdout


def test_another_python_s_bytecode_is_replaced_and_never_breaks_an_import(home: Path) -> None:
    zip_path = home / "python" / "lib" / "pkg.zip"
    with zipfile.ZipFile(zip_path, "a") as zf:  # what another Python version would have left
        zf.writestr("pkg/__init__.pyc", b"\x00\x00\r\n" + bytes(12) + b"garbage")
    seen = _run("-c", "import pkg; print(pkg.VALUE)", pythonpath=zip_path)
    assert seen.returncode == 0 and seen.stdout.strip() == "42", seen.stderr
    assert _run(str(PRECOMPILE), str(home)).returncode == 0
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.read("pkg/__init__.pyc")[:4] == importlib.util.MAGIC_NUMBER
        assert zf.namelist().count("pkg/__init__.pyc") == 1


def test_the_spark_home_s_pyspark_zip_is_precompiled_and_imports_pyspark() -> None:
    lib = spark_home() / "python" / "lib"
    with zipfile.ZipFile(lib / "pyspark.zip") as zf:
        assert zf.read("pyspark/__init__.pyc")[:4] == importlib.util.MAGIC_NUMBER
    paths = os.pathsep.join(str(p) for p in sorted(lib.glob("*.zip")))
    seen = _run("-c", "import pyspark.sql, pyspark.worker; print(pyspark.__file__)",
                pythonpath=Path(paths))
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.strip() == f"{lib / 'pyspark.zip'}{os.sep}pyspark{os.sep}__init__.pyc"
