"""Spark driverState -> the API's job states (the mapping is documented in the package)."""
from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ERROR = "ERROR"


TERMINAL = frozenset({JobState.FINISHED, JobState.FAILED, JobState.KILLED, JobState.ERROR})

_SPARK_TO_API = {
    "SUBMITTED": JobState.SUBMITTED,
    "RELAUNCHING": JobState.SUBMITTED,
    "UNKNOWN": JobState.SUBMITTED,
    "RUNNING": JobState.RUNNING,
    "FINISHED": JobState.FINISHED,
    "FAILED": JobState.FAILED,
    "KILLED": JobState.KILLED,
    "ERROR": JobState.ERROR,
}


def from_driver_state(driver_state: str | None) -> JobState:
    """Map a Spark driverState; anything unexpected is reported as SUBMITTED (not yet settled)."""
    return _SPARK_TO_API.get((driver_state or "UNKNOWN").upper(), JobState.SUBMITTED)
