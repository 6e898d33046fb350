"""Fail on purpose, after the Spark session is up: the job for FAILED-state and log tests."""
from __future__ import annotations

from _jobargs import start


class JobFailed(RuntimeError):
    """The deliberate failure; its message is what the caller asked for."""


def main() -> None:
    params, spark = start("fail")
    try:
        raise JobFailed(f"fail job: {params['message']}")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
