"""The summary table printed at the end of `up` and `check`: workloads, pods, workers, jobs."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from simulator.stack import Stack, status

if TYPE_CHECKING:  # the table needs no HTTP client: `status` starts faster without it
    from simulator.check import CheckResult


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)


def summary(stack: Stack, out: TextIO, results: Sequence[CheckResult] = ()) -> None:
    st = status(stack)
    pods = st["pods"]
    by_workload: dict[str, Counter] = {}
    for p in pods:
        c = by_workload.setdefault(p["workload"], Counter())
        c["pods"] += 1
        c["ready"] += int(p["ready"])
    rows = [("WORKLOAD", "PODS READY", "ADDRESSES")]
    for name, c in sorted(by_workload.items()):
        ips = ", ".join(p["ip"] for p in pods if p["workload"] == name)
        rows.append((name, f"{c['ready']}/{c['pods']}", ips))
    for name, alive in sorted(st["extras"].items()):
        rows.append((f"{name} (outside release)", "1/1" if alive else "0/1", ""))
    print(f"\nrun {stack.state.run_id}", file=out)
    _table(rows, out)
    restarted = [p for p in pods if p.get("restarts") or p.get("last_exit")]
    if restarted:
        _table([("POD", "RESTARTS", "LAST EXIT")]
               + [(p["name"], str(p.get("restarts", 0)), p.get("last_exit") or "")
                  for p in restarted], out)
    elif pods:
        print("restarts: none", file=out)
    if "controller" in st:
        print(f"controller (restarts pods): {'running' if st['controller'] else 'NOT running'}",
              file=out)
    print(f"workers ALIVE (master /json/): {st['alive_workers']}", file=out)
    if results:
        rows = [("CHECK", "RESULT", "TIME", "DETAIL")]
        for r in results:
            rows.append((r.name, "GAP" if r.gap else "ok" if r.ok else "FAIL",
                         f"{r.seconds:.1f}s" if r.seconds else "", r.detail))
        _table(rows, out)
        failed = sum(1 for r in results if not r.ok)
        gaps = sum(1 for r in results if r.gap)
        print(f"{len(results) - failed - gaps}/{len(results)} checks passed"
              + (f", {gaps} known gap(s) failed as expected" if gaps else ""), file=out)
        for r in results:
            if r.gap:
                print(f"known gap: {r.name}: {r.gap}", file=out)
    for note in stack.state.notes:
        print(f"not honored: {note}", file=out)
