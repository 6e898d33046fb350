"""Simulator cycle on each backend (process, and docker where an engine answers), phase by phase.

1. the full-stack cycle: render → master + 2 workers ALIVE (and the API ready) → a catalog job
   FINISHED through the API with a real token → down;
2. scaling 2 → 6 ALIVE workers on the same running stack (before its down).
The backends run one after the other in the same invocation, so their numbers compare on the
same machine state. Aims (2 cores): process cycle ≤ 30 s (the docker-backend issue: warm
≤ 20 s), scale ≤ 10 s; docker warm cycle (images already built) ≤ 60 s. Printed and written to
bench/results/sim.json. Runs go to a temp dir; everything is torn down even on failure.
"""
from __future__ import annotations

import os
import tempfile
import time

from bench.common import record


def cycle(backend: str) -> dict:
    """One full-stack cycle and a 2 -> 6 scale on ``backend``; the phases in seconds."""
    from simulator.check import ApiClient
    from simulator.scenarios import load
    from simulator.stack import Stack

    quiet = lambda _msg: None  # noqa: E731  (phases are printed below instead)
    phases: dict[str, float] = {}
    t0 = time.monotonic()
    stack = Stack.create(load("full-stack"), ["spark-job.spark.worker.replicas=2",
                                              "spark-job.spark.worker.memory=512m"],
                         backend=backend, progress=quiet)
    try:
        t = time.monotonic()
        stack.render()
        phases["render_s"] = time.monotonic() - t
        t = time.monotonic()
        stack.up()
        phases["up_to_2_workers_alive_s"] = time.monotonic() - t
        api = ApiClient(stack)
        try:
            t = time.monotonic()
            resp = api.submit("ordinary", "pi", {"samples": 1000, "partitions": 1})
            resp.raise_for_status()
            final = api.wait_job("ordinary", resp.json()["id"], timeout=300)
            phases["job_submit_to_terminal_s"] = time.monotonic() - t
            phases["job_state"] = final.state  # type: ignore[assignment]
        finally:
            api.close()
        t = time.monotonic()
        stack.scale("workers", 6)
        phases["scale_2_to_6_alive_s"] = time.monotonic() - t
        stack.scale("workers", 2)
    finally:
        t = time.monotonic()
        left = stack.down()
        phases["down_s"] = time.monotonic() - t
    cycle = (phases["render_s"] + phases["up_to_2_workers_alive_s"]
             + phases["job_submit_to_terminal_s"] + phases["down_s"])
    return {"full_stack_cycle_s": round(cycle, 2),
            "scale_2_to_6_s": round(phases["scale_2_to_6_alive_s"], 2),
            "wall_total_s": round(time.monotonic() - t0, 2),
            "phases": {k: (round(v, 3) if isinstance(v, float) else v)
                       for k, v in phases.items()},
            "left_after_down": left}


def main() -> None:
    os.environ.setdefault("SPARK_STACK_RUNS_DIR", tempfile.mkdtemp(prefix="sim-bench-"))
    from simulator import images

    backends = ["process"] + (["docker"] if images.docker_reachable() else [])
    if len(backends) == 1:
        print("docker: no engine answers; only the process backend is measured")
    if "docker" in backends:  # builds (when the images changed) are not part of a warm cycle
        for name in images.IMAGE_SPECS:
            images.ensure_image(name)
    result: dict = {"backends": {}}
    for backend in backends:
        print(f"--- {backend} backend", flush=True)
        result["backends"][backend] = cycle(backend)
        for key, value in result["backends"][backend].items():
            print(f"{backend} {key}: {value}")
    result["targets"] = {"process": {"full_stack_cycle_s": 20, "scale_2_to_6_s": 10},
                         "docker": {"full_stack_cycle_s": 60}}
    result["how"] = ("one run per backend, one after the other; warm AppCDS cache and images "
                     "already built; workers 1 core / 512m")
    record("sim", result)


if __name__ == "__main__":
    main()
