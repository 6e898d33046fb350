"""A pytest plugin for the suite benchmark: the machine's busy CPU seconds during each test file.

Loaded with ``-p bench.cpu_per_test`` on a serial run (``-n 0``) of a quiet machine, it reads
/proc/stat's busy jiffies (user, nice, system, irq, softirq, steal) around every test's setup,
call and teardown, and sums them per file: that counts the JVMs, API processes and CLIs a test
starts, which the test process's own CPU time does not. ``SPARK_STACK_CPU_PER_TEST=F`` names the
JSON file written at the end ({file: {"cpu_s", "wall_s", "tests"}}). Linux only.
"""
from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

_TICK = os.sysconf("SC_CLK_TCK")
_files: dict[str, dict[str, float]] = defaultdict(lambda: {"cpu_s": 0.0, "wall_s": 0.0,
                                                           "tests": 0})


def busy_seconds() -> float:
    """The machine's busy CPU time since boot, all cores, in seconds."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICK


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    cpu0, t0 = busy_seconds(), time.monotonic()
    try:
        return (yield)
    finally:
        row = _files[item.nodeid.split("::", 1)[0]]
        row["cpu_s"] += busy_seconds() - cpu0
        row["wall_s"] += time.monotonic() - t0
        row["tests"] += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("SPARK_STACK_CPU_PER_TEST")
    if out:
        rows = {f: {k: round(v, 1) for k, v in r.items()} for f, r in _files.items()}
        Path(out).write_text(json.dumps(rows, indent=1) + "\n")
