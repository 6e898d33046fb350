"""Renders + validations per second of the umbrella chart (aim: >= 50/s on 2 cores).

Side by side in one run: render only, render + strict validation, for the default full stack and
the OpenShift variant, so the cost of validation is visible next to Helm's own.
"""
from __future__ import annotations

import time

from bench.common import record, summary
from simulator.render import render

CASES = {
    "full-stack": dict(release="full-stack", values={"api-service": {"oauth": {
        "issuerUrl": "https://issuer.example.test", "audience": "spark-stack-api"}}}),
    "full-stack-openshift": dict(release="full-stack", openshift=True),
    "spark-only": dict(release="spark-cluster", set_values=["tags.install-service=false"]),
}


def run(seconds_per_case: float = 3.0) -> dict:
    results = {}
    for name, kwargs in CASES.items():
        render(**kwargs)  # warm-up: import, first load
        for validate in (False, True):
            samples = []
            deadline = time.perf_counter() + seconds_per_case
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                rendered = render(validate=validate, **kwargs)
                samples.append(time.perf_counter() - t0)
            s = summary(samples)
            label = f"{name} {'render+validate' if validate else 'render only'}"
            results[label] = {**s, "per_second": len(samples) / sum(samples),
                              "objects": len(rendered.manifests)}
            print(f"{label:42s} {results[label]['per_second']:7.1f}/s  "
                  f"median {s['median'] * 1000:6.1f} ms  p99 {s['p99'] * 1000:6.1f} ms  "
                  f"({len(rendered.manifests)} objects, n={s['n']})")
    return results


def main() -> None:
    print("render benchmark: real Helm engine in-process, strict validation (kubernetes 1.33)")
    record("render", {"aim_per_second": 50, "cases": run()})


if __name__ == "__main__":
    main()
