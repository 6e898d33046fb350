"""Suite time: the default test run (`tox`'s own pytest command), its total and its slowest tests.

Aim (issue 13): the default `tox` run ≤ 240 s on 2 cores from a warm environment, with the
hypothesis profile CI uses (`ci`, 200 examples per property). Runs the command tox.ini's
[testenv] runs, with its set_env, with the interpreter running this (tox -e bench has the same
extras); writes a JUnit XML report and records in bench/results/suite.json: the wall time, the
outcome counts, the sum of the tests' own times, the 10 slowest tests (setup + call + teardown,
as JUnit reports them) and the machine's load before and after.

Instead of running the suite it can record a run made elsewhere (a CI job, `tox -- --junitxml=F`):
`python -m bench.suite_bench --junit F [--wall SECONDS]`, or SPARK_STACK_SUITE_JUNIT=F (and
SPARK_STACK_SUITE_WALL=SECONDS) with `python -m bench suite`. Without a wall time, the report's
own `time` (pytest's session time) is recorded as the total.
"""
from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.common import record
from bench.cpu_per_test import busy_seconds

ROOT = Path(__file__).resolve().parent.parent
AIM_SECONDS = 240
TOP = 10


def _testenv() -> configparser.SectionProxy:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    return ini["testenv"]


def tox_env() -> dict[str, str]:
    """tox.ini's [testenv] set_env (e.g. GOGC), so a run outside tox runs as tox does."""
    pairs = (line.split("=", 1) for line in _testenv()["set_env"].splitlines()
             if "=" in line and not line.strip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _tox_env_ref(match: re.Match) -> str:
    return os.environ.get(match["name"], match["default"] or "")


def tox_command(extra: list[str]) -> list[str]:
    """tox.ini's [testenv] pytest command, ``{posargs}`` replaced by ``extra`` and
    ``{env:NAME:default}`` by the environment's value or the default, as tox does."""
    lines = [line for line in _testenv()["commands"].splitlines() if line.strip()]
    if len(lines) != 1 or not lines[0].split()[0] == "pytest":
        raise SystemExit(f"tox.ini [testenv] commands is not one pytest line: {lines}")
    argv = []
    for arg in shlex.split(lines[0]):
        arg = re.sub(r"\{env:(?P<name>\w+)(?::(?P<default>[^}]*))?\}", _tox_env_ref, arg)
        argv.extend(extra if arg == "{posargs}" else [arg])
    return [sys.executable, "-m", *argv]


def summarize(junit: Path, wall: float | None) -> dict:
    """Totals and the slowest tests of a pytest JUnit XML report."""
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases = []
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    session = 0.0
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, 0))
        session += float(suite.get("time", 0))
        for case in suite.iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            cases.append((float(case.get("time", 0)), name))
    cases.sort(reverse=True)
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {"total_s": round(wall if wall is not None else session, 1),
            "pytest_session_s": round(session, 1), "counts": counts,
            "sum_of_test_times_s": round(sum(t for t, _ in cases), 1),
            "top": [{"test": name, "seconds": round(t, 2)} for t, name in cases[:TOP]]}


def run_suite(extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="suite-bench-") as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = tox_command([f"--junitxml={junit}", *extra])
        env = {**os.environ, **tox_env()}
        env.setdefault("HYPOTHESIS_PROFILE", "ci")
        print("running:", shlex.join(cmd[2:]), f"(HYPOTHESIS_PROFILE={env['HYPOTHESIS_PROFILE']})",
              flush=True)
        load_before = os.getloadavg()[0]
        cpu0, t0 = busy_seconds(), time.monotonic()
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        wall = time.monotonic() - t0
        cpu = busy_seconds() - cpu0
        if not junit.exists():
            raise SystemExit(f"the suite wrote no report (exit {rc})")
        result = summarize(junit, wall)
    # The machine's busy CPU time during the run (every process: the JVMs and CLIs the tests
    # start too); busy / (wall x cores) near 1 means the run waits on CPU, not on start-ups.
    result.update(exit_code=rc, command=shlex.join(cmd[2:]),
                  hypothesis_profile=env["HYPOTHESIS_PROFILE"],
                  loadavg_1m_before=load_before, machine_cpu_busy_s=round(cpu, 1),
                  cpu_utilization=round(cpu / (wall * (os.cpu_count() or 1)), 2))
    return result


def cpu_per_file(extra: list[str], top: int = 15) -> dict:
    """A serial run (``-n 0``) with bench.cpu_per_test: the files that cost the most CPU."""
    with tempfile.TemporaryDirectory(prefix="suite-cpu-") as tmp:
        out = Path(tmp) / "cpu.json"
        os.environ["SPARK_STACK_CPU_PER_TEST"] = str(out)
        result = run_suite(["-n", "0", "-p", "bench.cpu_per_test", *extra])
        rows = json.loads(out.read_text())
    ranked = sorted(rows.items(), key=lambda kv: -kv[1]["cpu_s"])
    result["cpu_by_file"] = [{"file": f, **row} for f, row in ranked[:top]]
    result["cpu_sum_of_files_s"] = round(sum(r["cpu_s"] for r in rows.values()), 1)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junit", type=Path, default=os.environ.get("SPARK_STACK_SUITE_JUNIT"),
                        help="record this JUnit XML report instead of running the suite")
    parser.add_argument("--wall", type=float, default=os.environ.get("SPARK_STACK_SUITE_WALL"),
                        help="the recorded run's wall time in seconds (with --junit)")
    parser.add_argument("--cpu-per-file", action="store_true",
                        default=bool(os.environ.get("SPARK_STACK_SUITE_CPU_PER_FILE")),
                        help="run serially and record each test file's machine CPU seconds "
                             "(bench/results/suite_cpu.json; a quiet machine only)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv or [])  # `python -m bench suite` passes none: the env applies
    if args.cpu_per_file:
        result = cpu_per_file(args.pytest_args)
        print(f"serial suite: {result['total_s']} s wall, machine CPU busy "
              f"{result['machine_cpu_busy_s']} s; files by CPU:")
        for row in result["cpu_by_file"]:
            print(f"  {row['cpu_s']:7.1f} s CPU {row['wall_s']:7.1f} s wall  {row['file']}")
        record("suite_cpu", result)
        return
    if args.junit:
        result = summarize(args.junit, args.wall)
        result["source"] = f"JUnit report {args.junit.name}"
    else:
        result = run_suite(args.pytest_args)
    print(f"suite: {result['total_s']} s wall (aim ≤ {AIM_SECONDS} s), {result['counts']}")
    if "machine_cpu_busy_s" in result:
        print(f"machine CPU busy {result['machine_cpu_busy_s']} s "
              f"(utilization {result['cpu_utilization']:.0%} of {os.cpu_count()} cores)")
    for row in result["top"]:
        print(f"  {row['seconds']:8.2f} s  {row['test']}")
    record("suite", {"aim_seconds": AIM_SECONDS, **result})


if __name__ == "__main__":
    main(sys.argv[1:])
