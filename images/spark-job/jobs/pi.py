"""Monte Carlo estimate of pi: the classic Spark example, as a catalog job."""
from __future__ import annotations

import random

from _jobargs import start


def inside(_: int) -> int:
    x, y = random.random() * 2 - 1, random.random() * 2 - 1
    return 1 if x * x + y * y <= 1 else 0


def main() -> None:
    params, spark = start("pi")
    samples, partitions = params["samples"], params["partitions"]
    try:
        count = spark.sparkContext.parallelize(range(samples), partitions).map(inside).sum()
        print(f"Pi is roughly {4.0 * count / samples:f}", flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
