"""Load the chart for one render, and let Helm check a set of values against the schemas once.

Helm's values-schema check is most of a render's cost: it compiles the charts' ~200 KB of JSON
Schema (the umbrella's and each subchart's ``values.schema.json``) on every call. Measured on the
2-core box with helm-python-sdk 0.2.2: ~90 ms of CPU per render of the default values, ~24 ms
with the schema files left out. Its verdict depends on nothing but the chart's files and the
merged values (release name, namespace and capabilities do not enter it), so repeating it for
values Helm already accepted from the same files re-proves nothing.

So ``load()`` hands out, per process:

- the chart as it is on disk (``helm_python.Chart.load``), whose render runs Helm's full check,
  for values not yet accepted by Helm with the chart's current files;
- for values Helm already accepted, the same chart from Helm's own archive of it
  (``Chart.save``: ``.helmignore`` applied, symlinked subcharts resolved) with the
  ``values.schema.json`` files left out. Every template still renders with the real engine.

``check_once()`` runs a check of the chart's files alone (its dependencies present) once.
The chart's files are stat'ed on every call (size, mtime, ctime, inode of each): any change drops
the archive and every remembered verdict. A chart given as an archive file is always loaded and
checked as is.
"""
from __future__ import annotations

import io
import os
import tarfile
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import helm_python

# Distinct accepted value sets remembered per chart (the property tests draw ~1,000 per process).
MAX_ACCEPTED = 8192
SCHEMA_FILE = "values.schema.json"


@dataclass
class _Entry:
    stamp: tuple
    archive: bytes | None = None
    accepted: OrderedDict[str, None] = field(default_factory=OrderedDict)
    passed: set[str] = field(default_factory=set)


_entries: dict[str, _Entry] = {}
_lock = threading.Lock()


def _stamp(chart_dir: str) -> tuple:
    """What identifies the chart's files now (symlinked subcharts followed)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(chart_dir, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            st = os.stat(os.path.join(dirpath, name))
            out.append((dirpath, name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return tuple(out)


def _schema_free_archive(chart_dir: str) -> bytes:
    """Helm's own ``.tgz`` of the chart, with every ``values.schema.json`` left out."""
    chart = helm_python.Chart.load(chart_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="spark-stack-chart-") as tmp:
            saved = chart.save(tmp)
            out = io.BytesIO()
            with tarfile.open(saved) as src, \
                    tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as dst:
                for member in src.getmembers():
                    if member.name.rsplit("/", 1)[-1] == SCHEMA_FILE:
                        continue
                    dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    finally:
        chart.close()
    return out.getvalue()


def _entry(path: str) -> tuple[str, _Entry]:
    """The chart's cache entry, new when its files changed since the last call."""
    key = os.path.realpath(path)
    stamp = _stamp(path)
    with _lock:
        entry = _entries.get(key)
        if entry is None or entry.stamp != stamp:
            entry = _entries[key] = _Entry(stamp)
    return key, entry


def check_once(chart_dir: str | os.PathLike[str], check: Callable[[str], None]) -> None:
    """``check(chart_dir)`` (it raises on a problem) once per state of the chart's files."""
    path = os.fspath(chart_dir)
    if not os.path.isdir(path):
        check(path)
        return
    _, entry = _entry(path)
    name = f"{check.__module__}.{check.__qualname__}"
    if name not in entry.passed:
        check(path)
        entry.passed.add(name)


def load(chart_dir: str | os.PathLike[str],
         values_json: str) -> tuple[helm_python.Chart, Callable[[], None]]:
    """A freshly loaded chart to render ``values_json`` with, and ``accepted()``: call it once
    Helm rendered those values (its schema check passed), so a repeat skips the check.

    The chart is loaded anew for every render (a render drops tag-disabled subcharts from it)."""
    path = os.fspath(chart_dir)
    if not os.path.isdir(path):
        return helm_python.Chart.load(path), lambda: None
    key, entry = _entry(path)
    with _lock:
        known = values_json in entry.accepted
        if known:
            entry.accepted.move_to_end(values_json)
    if not known:
        return helm_python.Chart.load(path), lambda: _accept(key, entry, values_json)
    if entry.archive is None:
        archive = _schema_free_archive(path)
        if _stamp(path) != entry.stamp:  # changed while archived: check again next time
            return helm_python.Chart.load(path), lambda: None
        entry.archive = archive
    return helm_python.Chart.load_archive(entry.archive), lambda: None


def _accept(key: str, entry: _Entry, values_json: str) -> None:
    with _lock:
        if _entries.get(key) is not entry:
            return  # the files changed since this render's load
        entry.accepted[values_json] = None
        while len(entry.accepted) > MAX_ACCEPTED:
            entry.accepted.popitem(last=False)
