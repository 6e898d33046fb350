"""Spark driverState -> the API's job states, and the ``message`` that says why a job is where it is.

The facts come from the master alone: the driver's state, Spark's own message (an exception, set
only when launching failed), the worker the driver was given to (``None`` while it waits) and that
worker's state in the master's ``/json/``. What each combination means (Spark 4's
``Master.removeWorker``: a worker that disconnects or times out becomes ``DEAD``; its drivers end
``ERROR``, or ``RELAUNCHING`` under a NEW driver id when supervised; a worker stopped with SIGTERM
kills its drivers first, so they end ``KILLED``; ``DECOMMISSIONED`` is only seen while the worker
is still registered, Spark marks it ``DEAD`` once it is gone):

=============  ======================  ===================================================
driverState    API state               message
=============  ======================  ===================================================
SUBMITTED      SUBMITTED               waiting for a worker (none yet) / launching on one
RUNNING        RUNNING                 none
FINISHED       FINISHED                the driver exited with code 0
FAILED         FAILED                  a non-zero exit: the script failed (see its logs)
KILLED         KILLED                  before launch / by a DELETE / when worker ... stopped
ERROR          ERROR                   Spark's launch error, or worker ... was lost /
                                       decommissioned while running the driver
RELAUNCHING    ERROR (for this id)     worker ... lost; relaunched (supervise) as a new job
UNKNOWN        SUBMITTED               the master is recovering
=============  ======================  ===================================================
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


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
    # Since SPARK-19900 a relaunched driver gets a new id: the old one ends RELAUNCHING for good.
    "RELAUNCHING": JobState.ERROR,
    "UNKNOWN": JobState.SUBMITTED,
    "RUNNING": JobState.RUNNING,
    "FINISHED": JobState.FINISHED,
    "FAILED": JobState.FAILED,
    "KILLED": JobState.KILLED,
    "ERROR": JobState.ERROR,
}

GONE_STATES = frozenset({"DEAD", "DECOMMISSIONED"})  # a worker whose drivers are lost


def from_driver_state(driver_state: str | None) -> JobState:
    """Map a Spark driverState; anything unexpected is reported as SUBMITTED (not yet settled)."""
    return _SPARK_TO_API.get((driver_state or "UNKNOWN").upper(), JobState.SUBMITTED)


@dataclass(frozen=True)
class WorkerFact:
    """The worker a driver was given to, as the master's /json/ shows it (or not)."""

    id: str
    host: str | None
    state: str | None  # ALIVE, DEAD, DECOMMISSIONED, UNKNOWN; None: the master no longer lists it
    webui: str | None = None

    @property
    def gone(self) -> bool:
        """Its drivers and their logs are lost: DEAD, DECOMMISSIONED or no longer listed."""
        return self.state is None or self.state in GONE_STATES

    @property
    def label(self) -> str:
        return f"worker {self.id} ({self.host})" if self.host else f"worker {self.id}"

    @property
    def fate(self) -> str:
        if self.state == "DECOMMISSIONED":
            return "was decommissioned"
        return "was lost"


def address_of(worker_id: str) -> str | None:
    """``worker-<yyyyMMddHHmmss>-<host>-<port>`` (Spark's Worker.generateWorkerId) ->
    ``<host>-<port>``: the same for a worker started again at the same address."""
    parts = worker_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "worker" and "-" in parts[2] else None


def _host_from_id(worker_id: str) -> str | None:
    address = address_of(worker_id)
    return address.rsplit("-", 1)[0] if address else None


def worker_fact(cluster: Mapping[str, Any] | None, worker_id: str | None) -> WorkerFact | None:
    """What the master says of ``worker_id``; None when the driver was never given a worker."""
    if not worker_id or worker_id == "None":
        return None
    for worker in (cluster or {}).get("workers", []):
        if worker.get("id") == worker_id:
            return WorkerFact(worker_id, worker.get("host") or _host_from_id(worker_id),
                              worker.get("state"), worker.get("webuiaddress"))
    return WorkerFact(worker_id, _host_from_id(worker_id), None)


def _spark_reason(spark_message: str | None) -> str | None:
    """The exception line of Spark's ``Exception from the cluster:\\n<class>: <text>\\n\\tat``."""
    if not spark_message:
        return None
    lines = [line.strip() for line in spark_message.splitlines() if line.strip()]
    if lines and lines[0].startswith("Exception from the cluster"):
        lines = lines[1:]
    return lines[0][:500] if lines else None


def describe(driver_state: str | None, worker: WorkerFact | None,
             spark_message: str | None = None,
             relaunched_as: str | None = None) -> tuple[JobState, str | None]:
    """The API state and a message saying why (every terminal state has one).

    ``relaunched_as``: the job id of the driver the master relaunched this one as, if known."""
    state = from_driver_state(driver_state)
    spark = (driver_state or "UNKNOWN").upper()
    logs_gone = f" (its logs were on {worker.label}, which is gone)" \
        if worker is not None and worker.gone else ""
    if spark == "RELAUNCHING":
        where = f"{worker.label} {worker.fate}" if worker is not None else "its worker was lost"
        new = f"job {relaunched_as}" if relaunched_as else \
            "a new driver, listed under a new job id"
        return state, (f"{where} while running the driver; the master relaunched the job "
                       f"(supervise) as {new}")
    if spark == "UNKNOWN":
        return state, "the Spark master is recovering; the state is not known yet"
    if state is JobState.SUBMITTED:
        return state, ("waiting for a worker with room for the driver" if worker is None
                       else f"launching on {worker.label}")
    if state is JobState.RUNNING:
        return state, None
    if state is JobState.FINISHED:
        return state, "the driver exited with code 0"
    if state is JobState.FAILED:
        return state, ("the driver exited with a non-zero code: the script failed, its logs "
                       "(stdout, stderr) say why" + logs_gone)
    if state is JobState.KILLED:
        if worker is None:
            return state, "killed before its driver was launched"
        if worker.state == "DECOMMISSIONED":
            return state, f"killed: {worker.label} was decommissioned while running the driver"
        if worker.gone:
            return state, (f"killed when {worker.label} stopped, or by a DELETE before that "
                           f"(the worker is {worker.state or 'gone'} now){logs_gone}")
        return state, "killed by a DELETE (or by an operator at the Spark master)"
    # ERROR
    reason = _spark_reason(spark_message)
    if reason:
        return state, f"the driver could not be launched: {reason}"
    if worker is not None and worker.gone:
        return state, f"{worker.label} {worker.fate} while running the driver"
    return state, "Spark reports ERROR without a reason"
