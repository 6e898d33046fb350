"""A newcomer's first `tox -e full-stack`: a fresh clone, a warm pip cache, phase by phase.

What a new developer pays before the first green scenario: tox creating the environment
(the images' pinned dependencies, pyspark, the project), the JVM warm-up (the AppCDS archives are
made once per machine and reused by every later virtualenv: the log says which), bringing the
stack up, and the checks. The phases are read off the timestamps at which tox and the simulator
print their well-known lines, so nothing is instrumented that a user does not see too.
Aims (2 cores): first run ≤ 90 s; the same command again (warm) ≤ 20 s of simulator time.
Written to bench/results/newcomer.json.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import record

REPO = Path(__file__).resolve().parents[1]
# (phase name, a fragment of the first line that ends it)
MARKERS = [("tox_env_deps_installed", "install_package>"),
           ("tox_env_ready", "full-stack: commands[0]>"),
           ("jvm_warmup_done", "rendered "),
           ("stack_up", "up full-stack-"),
           ("checks_done", "checks passed"),
           ("down_done", "check full-stack (process):")]


def timed_run(cwd: Path) -> tuple[int, dict[str, float], list[str]]:
    """Run `tox -e full-stack` in ``cwd``; seconds from the start to each marker, and the log."""
    began = time.monotonic()
    seen: dict[str, float] = {}
    lines: list[str] = []
    tox = shutil.which("tox")
    if tox is None:
        raise SystemExit("newcomer bench: no `tox` on PATH (python3 -m pip install tox)")
    proc = subprocess.Popen([tox, "-e", "full-stack"], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        for name, fragment in MARKERS:
            if name not in seen and fragment in line:
                seen[name] = round(time.monotonic() - began, 1)
    code = proc.wait()
    seen["total"] = round(time.monotonic() - began, 1)
    if code != 0:
        print("\n".join(lines[-30:]), file=sys.stderr)
    return code, seen, lines


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="newcomer-") as scratch:
        clone = Path(scratch) / "spark-stack"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        print(f"fresh clone of HEAD in {clone}; first `tox -e full-stack` (warm pip cache)",
              flush=True)
        first_code, first, first_log = timed_run(clone)
        print(f"first run: exit {first_code}, phases {first}", flush=True)
        again_code, again, _ = timed_run(clone)
        print(f"second run (warm env): exit {again_code}, phases {again}", flush=True)
    reuse = [line for line in first_log if "JVM fast start" in line]
    result = {"first_run": {"exit": first_code, "seconds_at": first},
              "warm_run": {"exit": again_code, "seconds_at": again},
              "jvm_warmup_log": reuse[-3:],
              "targets": {"first_run_total_s": 90, "warm_run_simulator_s": 20},
              "how": "git clone of HEAD into a temp dir, `tox -e full-stack` twice; "
                     "seconds from the command's start to the first line of each phase"}
    record("newcomer", result)


if __name__ == "__main__":
    main()
