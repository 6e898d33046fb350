"""What every benchmark records next to its numbers: the machine and the moment."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_1m": load[0],
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def summary(samples: list[float]) -> dict[str, float]:
    """Median, p99, min and max of samples in seconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"n": len(ordered), "median": statistics.median(ordered), "p99": p99,
            "min": ordered[0], "max": ordered[-1]}


def record(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"recorded {path.relative_to(RESULTS.parent.parent)}")
    return path
