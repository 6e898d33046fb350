"""Admission control: accept a job only if the cluster has room for its driver AND an executor.

Why (issue 8): on 4 workers of 1 core/512m, 20 jobs submitted at once deadlocked the cluster: the
first 4 drivers took every worker's memory, no executor could start, nothing ever ended. Spark's
standalone master places drivers without regard to their executors, so the API checks first.

Stateless: the decision is made from the master's ``/json/`` alone (workers' free memory and
cores, drivers waiting, apps still without executors), read fresh under a per-replica lock so two
submissions to one replica never both take the last room. Replicas do not coordinate: two of
them can still admit at the same instant (the window is one REST call).

The placement is first fit, in this order: drivers already waiting for a worker; one executor
(512m, 1 core, the smallest a job uses) for every active driver whose app has no cores yet; then
the new job's driver (0 cores, its memory) and one executor of its size. Conservative on purpose
(drivers and apps are not linked in /json/, so an executor may be reserved for a driver that
needs none): it may refuse a job that would have fit, never admit one into a hang. What does not
fit is refused with 429 and Retry-After; a job that would not fit even on the idle cluster is a 422
naming the resource (it could never run).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .settings import MIN_MEMORY_MB


@dataclass
class _Room:
    memory: int  # MB
    cores: int


@dataclass(frozen=True)
class Decision:
    admitted: bool
    reason: str = ""
    never: bool = False  # not even the idle cluster could run it
    field: str | None = None


def _alive(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in cluster.get("workers", []) if w.get("state") == "ALIVE"]


def _place(rooms: list[_Room], memory: int, cores: int) -> bool:
    for room in rooms:
        if room.memory >= memory and room.cores >= cores:
            room.memory -= memory
            room.cores -= cores
            return True
    return False


def _fits(rooms: list[_Room], driver_mb: int, executor_mb: int, executor_cores: int) -> bool:
    return _place(rooms, driver_mb, 0) and _place(rooms, executor_mb, executor_cores)


def decide(cluster: dict[str, Any], driver_mb: int, executor_mb: int,
           executor_cores: int) -> Decision:
    workers = _alive(cluster)
    if not workers:
        return Decision(False, "the Spark cluster has no alive worker")
    idle = [_Room(int(w.get("memory", 0)), int(w.get("cores", 0))) for w in workers]
    if not _fits(idle, driver_mb, executor_mb, executor_cores):
        largest = max(int(w.get("memory", 0)) for w in workers)
        field = "resources.driverMemory" if driver_mb > largest else "resources.executorMemory"
        return Decision(False, f"no worker of this cluster can hold the job's driver and an "
                               f"executor (largest worker: {largest}m, "
                               f"{max(int(w.get('cores', 0)) for w in workers)} core(s)); "
                               "ask for less", never=True, field=field)
    rooms = [_Room(int(w.get("memory", 0)) - int(w.get("memoryused", 0)),
                   int(w.get("cores", 0)) - int(w.get("coresused", 0))) for w in workers]
    drivers = cluster.get("activedrivers", [])
    for driver in drivers:
        if driver.get("state") == "SUBMITTED" and not _place(
                rooms, int(driver.get("memory", MIN_MEMORY_MB)), int(driver.get("cores", 0))):
            return Decision(False, "jobs are already waiting for room on the cluster")
    with_cores = sum(1 for app in cluster.get("activeapps", []) if int(app.get("cores", 0)) > 0)
    for _ in range(max(0, len(drivers) - with_cores)):
        if not _place(rooms, MIN_MEMORY_MB, 1):
            return Decision(False, "running jobs still wait for their executors")
    if not _fits(rooms, driver_mb, executor_mb, executor_cores):
        return Decision(False, "no room now for the job's driver and an executor")
    return Decision(True)
