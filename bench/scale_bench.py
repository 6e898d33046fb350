"""Scale-up as the user runs it: ``python -m simulator scale RUN_ID workers 6`` from 2 workers,
until the master's /json/ counts 6 ALIVE workers (process backend), phase by phase.

A full-stack run with 2 workers (1 core / 512m) is brought up in this process (not timed); then,
``RUNS`` rounds of two variants, alternating (the order swaps each round):
- ``scale``: ``python -m simulator scale RUN_ID workers 6`` (a replica count alone is set in the
  manifests applied last, no render);
- ``upgrade_rerender``: ``python -m simulator upgrade RUN_ID --set
  spark-job.spark.worker.replicas=6``, the same change through a full render (what ``scale``
  did before), i.e. the skipped render measured A/B.
Each time the CLI is started as a user starts it (a fresh interpreter, its own run-state
load, render and reconcile) while this process polls the master every 50 ms, and afterwards the
stack goes back to 2 workers (not timed). Phases come from the moments the CLI's progress lines
appear on its stderr (each line stamped as it is read) and from the master:

- ``cli_to_first_line``: interpreter start, imports and loading the run (no output before);
- ``render``: up to "rendered N objects" (``scale``: "scaled ... in the applied manifests");
- ``launch``: up to the last "started <pod>" (reconcile: new pods' processes launched);
- ``jvm_start_to_ready``: up to the last "ready: <pod>" (the workers' JVMs start, their probes
  pass; as the kubelet's probes, at most 0.5 s apart while waiting);
- ``registered``: the master counts 6 ALIVE (polled here, independently of the CLI);
- ``cli_exit``: the CLI's own end (its summary table, the controller check).
Also the CPU seconds each new worker's process tree (bash entrypoint, spark-class's launcher JVM,
the worker JVM) had used when its probes passed, read by psutil right after the CLI exits: the
JVM start's cost independent of the load, and with it the least wall time 4 of them can take on
this machine's cores.
Aim (issue 13): ALIVE <= 3 s after the command starts. bench/results/scale.json.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from bench.common import record, summary

RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "3"))
FROM, TO = 2, 6
VARIANTS = {"scale": ["scale", "{run}", "workers", str(TO)],
            "upgrade_rerender": ["upgrade", "{run}", "--set",
                                 f"spark-job.spark.worker.replicas={TO}"]}
PHASES = [("render", r"^rendered \d+ objects|^scaled .* in the applied manifests"), ("launch", r"^started .*-worker-"),
          ("jvm_start_to_ready", r"^ready: .*-worker-")]


def alive_workers(ui: str) -> int:
    with urllib.request.urlopen(f"{ui}/json/", timeout=5) as resp:
        return int(json.loads(resp.read()).get("aliveworkers", 0))


def workers_cpu(run_id: str, pods: list[str]) -> list[float]:
    """CPU seconds (user + system) used so far by each pod's process and its descendants."""
    from simulator.local.procs import ProcRecord
    from simulator.run import RunState

    state = RunState.load(run_id)
    out = []
    for pod in pods:
        proc = ProcRecord.from_json(state.pods[pod].proc).process()
        tree = [proc, *proc.children(recursive=True)] if proc else []
        out.append(round(sum(sum(p.cpu_times()[:2]) for p in tree), 2))
    return out


def scale_once(run_id: str, ui: str, variant: str) -> dict[str, float]:
    """One ``variant`` through the CLI; the phases, seconds since its start."""
    points: dict[str, float] = {}
    done = threading.Event()
    t0 = time.perf_counter()

    def poll() -> None:
        while not done.is_set():
            try:
                if alive_workers(ui) >= TO:
                    points["registered"] = time.perf_counter() - t0
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    argv = [a.format(run=run_id) for a in VARIANTS[variant]]
    proc = subprocess.Popen([sys.executable, "-m", "simulator", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    for line in proc.stderr or ():
        now = time.perf_counter() - t0
        lines.append(f"{now:7.3f} {line.rstrip()}")
        points.setdefault("cli_to_first_line", now)
        for phase, pattern in PHASES:
            if re.search(pattern, line):
                points[phase] = now  # the last matching line ends the phase
    out = (proc.stdout.read() if proc.stdout else "")
    code = proc.wait()
    points["cli_exit"] = time.perf_counter() - t0
    poller.join(timeout=60)
    done.set()
    if code != 0 or "registered" not in points:
        raise RuntimeError(f"scale failed ({code}): {out}\n" + "\n".join(lines[-30:]))
    return {k: round(v, 3) for k, v in points.items()}


def main() -> None:
    os.environ.setdefault("SPARK_STACK_RUNS_DIR", tempfile.mkdtemp(prefix="bench-scale-"))
    from simulator.run import RunState
    from simulator.scenarios import load
    from simulator.stack import Stack

    load_before = os.getloadavg()[0]
    stack = Stack.create(load("full-stack"), [f"spark-job.spark.worker.replicas={FROM}",
                                              "spark-job.spark.worker.memory=512m"],
                         progress=lambda _msg: None)
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    try:
        stack.up()
        ui = stack.master_ui()
        assert ui, "the full-stack run has a master"
        before = set(stack.state.pods)
        for i in range(RUNS):
            for variant in (list(VARIANTS) if i % 2 == 0 else list(VARIANTS)[::-1]):
                points = scale_once(stack.state.run_id, ui, variant)
                new = sorted(set(RunState.load(stack.state.run_id).pods) - before)
                cpu = workers_cpu(stack.state.run_id, new)
                points["worker_cpu_s_median"] = statistics.median(cpu)
                runs[variant].append(points)
                print(f"[bench scale] run {i + 1}/{RUNS} {variant}: {TO} ALIVE after "
                      f"{points['registered']:.2f} s, CLI exit {points['cli_exit']:.2f} s "
                      f"({points})", flush=True)
                Stack.load(stack.state.run_id, progress=lambda _msg: None).scale("workers",
                                                                                   FROM)
    finally:
        left = Stack.load(stack.state.run_id, progress=lambda _msg: None).down()
    order = ["cli_to_first_line", "render", "launch", "jvm_start_to_ready", "registered",
             "cli_exit", "worker_cpu_s_median"]
    medians = {v: {p: round(statistics.median(r[p] for r in rs), 3) for p in order
                   if all(p in r for r in rs)} for v, rs in runs.items()}
    for variant, phases in medians.items():
        print(f"  {variant} {FROM} -> {TO} through the CLI, medians (s since the command "
              f"started): {phases}")
    record("scale", {
        "what": f"`python -m simulator scale RUN_ID workers {TO}` from {FROM} on a full-stack "
                "process-backend run (workers 1 core / 512m), until the master counts "
                f"{TO} ALIVE; n={RUNS}",
        "aim_alive_s": 3.0,
        "alive_s": {v: summary([r["registered"] for r in rs]) for v, rs in runs.items()},
        "cli_exit_s": {v: summary([r["cli_exit"] for r in rs]) for v, rs in runs.items()},
        "phase_medians_s": medians, "runs": runs, "cpus": os.cpu_count(),
        "least_wall_for_new_workers_s": round(
            (TO - FROM) * medians["scale"]["worker_cpu_s_median"] / (os.cpu_count() or 1), 2),
        "load_1m_before": round(load_before, 2), "load_1m_after": round(os.getloadavg()[0], 2),
        "left_after_down": left})


if __name__ == "__main__":
    main()
