"""`python -m bench [NAME...]`: run the benchmarks (all by default) and record their numbers."""
from __future__ import annotations

import importlib
import sys

BENCHES = {"render": "bench.render_bench", "api": "bench.api_bench", "sim": "bench.sim_bench",
           "latency": "bench.job_latency_bench", "scale": "bench.scale_bench",
           "jobcds": "bench.job_cds_bench", "newcomer": "bench.newcomer_bench",
           "suite": "bench.suite_bench"}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"\n=== bench {name}", flush=True)
        importlib.import_module(BENCHES[name]).main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
