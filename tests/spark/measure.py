"""Measure the Spark start-up and job latency that DESIGN section 4 quotes (not a test).

    python -m tests.spark.measure [--rounds 2]     (from the repository root)

For each mode it starts a master + 1 worker with images/spark-job/entrypoint.sh and prints the
time until ``/json/`` shows ALIVE with the worker registered:
- ``default``: SPARK_JVM_FAST_START=false (stock JVM flags);
- ``cds-create``: fast start with an empty CDS dir (C1 only; the archive is written at stop);
- ``cds-use``: fast start with the archive from the previous round.
With the warm cluster it then times the pi job (samples 20000, driver and executor with C1 as
simulator/local/submit.py submits it) from REST submit to FINISHED.
Numbers depend on the machine's load (2 shared cores here): they are printed, never asserted.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from simulator.local import SparkCluster, submit


def startup(base: Path, fast: bool, cds: Path) -> tuple[float, SparkCluster]:
    # No warm-up: the point is to time a first start without archives, then one with them.
    cluster = SparkCluster(base, fast_start=fast, cds_dir=cds, cds_warmup=False)
    began = time.monotonic()
    cluster.start()
    return time.monotonic() - began, cluster


def pi_latency(cluster: SparkCluster) -> float:
    body = submit.create_request(cluster.master_url, "pi", {"samples": 20000},
                                 f"pi-{uuid.uuid4().hex[:8]}")
    began = time.monotonic()
    driver_id = submit.submit(cluster.rest_url, body)
    final = submit.wait_state(cluster.rest_url, driver_id)
    seconds = time.monotonic() - began
    if final["driverState"] != "FINISHED":
        raise RuntimeError(f"pi ended {final}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    rounds = parser.parse_args().rounds
    results: dict[str, list[float]] = {"default": [], "cds-create": [], "cds-use": [],
                                       "pi": []}
    with tempfile.TemporaryDirectory(prefix="spark-measure-") as scratch:
        root = Path(scratch)
        for n in range(rounds):
            cds = root / f"cds-{n}"
            for mode, fast in (("default", False), ("cds-create", True), ("cds-use", True)):
                seconds, cluster = startup(root / f"{mode}-{n}", fast, cds)
                try:
                    results[mode].append(seconds)
                    if mode == "cds-use":
                        results["pi"].append(pi_latency(cluster))
                finally:
                    cluster.stop()
    for name, values in results.items():
        print(f"{name:12s} median {statistics.median(values):5.1f} s  "
              f"runs {', '.join(f'{v:.1f}' for v in values)}")


if __name__ == "__main__":
    main()
