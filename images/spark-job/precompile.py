"""Put compiled bytecode into the Python zips Spark puts first on every job's PYTHONPATH.

    python precompile.py SPARK_HOME

Spark starts each driver's and executor's Python with ``$SPARK_HOME/python/lib/pyspark.zip``
(and the py4j zip) first on PYTHONPATH, so pyspark is imported from there, not from
site-packages. The zips hold only ``.py`` files and zipimport never writes bytecode, so every
Python process of every job compiled pyspark again: ~0.55 s of CPU per process (measured:
``import pyspark.sql`` 0.73 s user from the zip, 0.16 s from site-packages), twice per job at
least (the driver and the executor's Python daemon).

zipimport loads ``name.pyc`` next to ``name.py`` inside a zip when its magic number is this
Python's (PEP 552 unchecked hash-based pycs: no timestamps involved); any other Python finds a
foreign magic number and quietly compiles the source as before. Run it with the Python the jobs
use (the image's venv; the simulator's own interpreter for its Spark home). Each zip is rewritten
to a temporary file and renamed over the old name (a hard link is replaced, never written
through); a zip that already holds this Python's bytecode is left alone.
"""
from __future__ import annotations

import importlib.util
import marshal
import os
import sys
import warnings
import zipfile
from pathlib import Path

# PEP 552 flags: bit 0 = hash-based, bit 1 = check_source (off: the zip never changes).
UNCHECKED_HASH = (0b01).to_bytes(4, "little")


def pyc(source: bytes, filename: str) -> bytes:
    with warnings.catch_warnings():  # pyspark's own tests have SyntaxWarnings: not ours
        warnings.simplefilter("ignore")
        code = compile(source, filename, "exec", dont_inherit=True)
    return (importlib.util.MAGIC_NUMBER + UNCHECKED_HASH + importlib.util.source_hash(source)
            + marshal.dumps(code))


def precompile(path: Path) -> int:
    """Add this Python's ``.pyc`` for every ``.py`` of the zip at ``path``; how many were added
    (0 when it already has them)."""
    with zipfile.ZipFile(path) as zin:
        names = set(zin.namelist())
        sources = [n for n in zin.namelist() if n.endswith(".py")]
        done = [n[:-3] + ".pyc" for n in sources if n[:-3] + ".pyc" in names]
        if done and zin.read(done[0])[:4] == importlib.util.MAGIC_NUMBER:
            return 0
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        added = 0
        with zipfile.ZipFile(tmp, "w") as zout:
            for info in zin.infolist():
                if info.filename.endswith(".pyc"):
                    continue  # another Python's: replaced below
                data = zin.read(info)
                zout.writestr(info, data)
                if info.filename.endswith(".py"):
                    # the name zipimport itself gives the source, so tracebacks read the same
                    compiled = pyc(data, f"{path}{os.sep}{info.filename}")
                    out = zipfile.ZipInfo(info.filename[:-3] + ".pyc", info.date_time)
                    out.external_attr = info.external_attr
                    zout.writestr(out, compiled, zipfile.ZIP_DEFLATED)
                    added += 1
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
    return added


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: precompile.py SPARK_HOME", file=sys.stderr)
        return 64
    zips = sorted(Path(argv[0], "python", "lib").glob("*.zip"))
    if not zips:
        print(f"precompile: no zips in {argv[0]}/python/lib: is SPARK_HOME right?",
              file=sys.stderr)
        return 66
    for path in zips:
        print(f"precompile: {path.name}: {precompile(path)} module(s) compiled")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
