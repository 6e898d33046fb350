"""/v1/jobs: submit, read, list, kill and read the logs of catalog jobs (stateless, see package)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from .. import admission
from ..auth import Principal, Reader, Submitter
from ..deps import CatalogDep, MasterDep, MetricsDep, OwnersDep, OwnershipDep, SettingsDep
from ..errors import ApiError
from ..metrics import Metrics
from ..models import Job, JobPage, JobSubmission, Links, LogChunk
from ..ownership import JobRef, Ownership, parse_job_id
from ..openapi import errors
from ..owners import UNRESOLVED, DriverRef, Ended, Owner, OwnerIndex
from ..settings import MIN_MEMORY_MB, Settings, memory_mb
from ..spark import DriverStatus, SparkMaster, SparkUnavailable
from ..states import TERMINAL, WorkerFact, address_of, describe, from_driver_state, worker_fact

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
log = logging.getLogger("spark_api.jobs")

# Every operation here needs a token: 401 (none or bad), 403 (scope), 503 (issuer or master).
_AUTH = (401, 403, 503)
MAX_LOG_OFFSET = 2**63 - 1  # the worker reads a Java long
ADMISSION_RETRY_AFTER = 10  # seconds: about one small job's run


def _unavailable(exc: SparkUnavailable) -> ApiError:
    log.warning("Spark unavailable: %s", exc)  # URLs and library messages stay in the log
    return ApiError(503, "spark_unavailable",
                    "the Spark master is not available, try again shortly",
                    headers={"Retry-After": "5"})


def _job(request: Request, job_id: str, ref: JobRef, spark_state: str | None,
         worker: WorkerFact | None = None, spark_message: str | None = None,
         relaunched_as: str | None = None) -> Job:
    # Not request.url_for: its route search was ~13% of a status read (py-spy). Job ids are
    # URL-safe by construction (ownership.py), so they need no quoting.
    base = f"{str(request.base_url).rstrip('/')}{router.prefix}/{job_id}"
    state, message = describe(spark_state, worker, spark_message, relaunched_as)
    return Job(id=job_id, job=ref.job, state=state, sparkState=spark_state,
               driverId=ref.driver_id, message=message,
               links=Links(self=base, logs=base + "/logs"))


# Driver states whose message depends on the state of the driver's worker (one /json/ read).
_WORKER_MATTERS = frozenset({"KILLED", "ERROR", "RELAUNCHING", "FAILED"})


async def _worker(master: SparkMaster, status: DriverStatus) -> WorkerFact | None:
    """The driver's worker as the master sees it, read only when the message depends on it."""
    if (status.state or "").upper() not in _WORKER_MATTERS:
        return worker_fact({}, status.worker_id) if status.worker_id else None
    return worker_fact(await master.cluster(), status.worker_id)


def _learn(owners: OwnerIndex, ref: JobRef, principal: Principal, ownership: Ownership) -> None:
    """The caller proved this id is theirs (HMAC): remember the owner for listing (owners.py)."""
    if ownership.owns(ref, principal.subject):
        owners.learn(ref.driver_id, (ownership.owner_tag(principal.subject), ref.job))


def _owner(owners: OwnerIndex, job_id: str, ref: JobRef, principal: Principal,
           ownership: Ownership) -> Owner | None:
    """The owner of ``job_id`` if known: the caller's (HMAC), or, for an admin reading another
    owner's job, the remembered owner whose tag this id's HMAC matches."""
    if ownership.owns(ref, principal.subject):
        return (ownership.owner_tag(principal.subject), ref.job)
    owner = owners.cached(ref.driver_id)
    if isinstance(owner, tuple) and owner[1] == ref.job \
            and ownership.job_id(ref.driver_id, owner[1], owner[0]) == job_id:
        return owner
    return None


def _record_end(owners: OwnerIndex, driver_id: str, owner: Owner | None,
                spark_state: str | None, spark_message: str | None,
                worker: WorkerFact | None) -> None:
    """A driver seen ended is remembered (owners.Ended): the master forgets ended drivers when it
    restarts, the API does not (per replica, like the owner facts)."""
    if owner is not None and spark_state and from_driver_state(spark_state) in TERMINAL:
        owners.ended(driver_id, owner, spark_state, spark_message,
                     (worker.id, worker.host, worker.state) if worker else None)


def _remembered(owners: OwnerIndex, job_id: str, ref: JobRef,
                ownership: Ownership) -> Ended | None:
    """The remembered end of ``job_id`` (its HMAC checked against the remembered owner)."""
    ended = owners.remembered(ref.driver_id)
    if ended is None or ended.owner[1] != ref.job \
            or ownership.job_id(ref.driver_id, ended.owner[1], ended.owner[0]) != job_id:
        return None
    return ended


def _ended_worker(ended: Ended) -> WorkerFact | None:
    return WorkerFact(*ended.worker) if ended.worker else None


def _check_resources(spec: JobSubmission, settings: Settings) -> None:
    res = spec.resources
    for name, value, cap in (("driverMemory", res.driverMemory, settings.max_driver_memory),
                             ("executorMemory", res.executorMemory, settings.max_executor_memory)):
        if memory_mb(value) > memory_mb(cap):
            raise ApiError(422, "resource_over_cap",
                           f"resources.{name}={value} is over the cap of {cap}",
                           field=f"resources.{name}")
        if memory_mb(value) < MIN_MEMORY_MB:
            raise ApiError(422, "resource_too_small",
                           f"resources.{name}={value}: Spark needs at least 512m",
                           field=f"resources.{name}")
    for name, value, limit in (("executorCores", res.executorCores, settings.max_executor_cores),
                               ("maxCores", res.maxCores, settings.max_cores)):
        if value > limit:
            raise ApiError(422, "resource_over_cap",
                           f"resources.{name}={value} is over the cap of {limit}",
                           field=f"resources.{name}")
    if res.executorCores > res.maxCores:
        raise ApiError(422, "invalid_resources",
                       "resources.executorCores cannot exceed resources.maxCores",
                       field="resources.executorCores")


def _admit(cluster: dict, spec: JobSubmission, metrics: Metrics) -> None:
    res = spec.resources
    decision = admission.decide(cluster, memory_mb(res.driverMemory),
                                memory_mb(res.executorMemory), res.executorCores)
    if decision.admitted:
        return
    metrics.submissions.labels("rejected" if decision.never else "deferred").inc()
    if decision.never:
        raise ApiError(422, "cluster_too_small", decision.reason, field=decision.field)
    raise ApiError(429, "cluster_busy", f"the cluster cannot run this job now: {decision.reason}; "
                   "submit it again after Retry-After seconds",
                   headers={"Retry-After": str(ADMISSION_RETRY_AFTER)})


def _authorize(ref: JobRef | None, principal: Principal, ownership: Ownership) -> JobRef:
    """Someone else's job and a job that does not exist look the same: 404."""
    if ref is None or not (principal.is_admin or ownership.owns(ref, principal.subject)):
        raise ApiError(404, "not_found", "no such job")
    return ref


@router.post("", status_code=202, response_model=Job,
             responses=errors(*_AUTH, 413, 422, 429))
async def submit_job(request: Request, spec: JobSubmission, principal: Submitter,
                     settings: SettingsDep, catalog: CatalogDep, master: MasterDep,
                     ownership: OwnershipDep, owners: OwnersDep,
                     metrics: MetricsDep) -> JSONResponse:
    try:
        entry = catalog.get(spec.job)
        catalog.validate_args(entry, spec.args)
        _check_resources(spec, settings)
        if spec.supervise and not settings.allow_supervise:
            raise ApiError(422, "supervise_not_allowed",
                           "supervise: true is not allowed by this service (an operator can "
                           "allow it with SPARK_API_ALLOW_SUPERVISE=true); leave it out",
                           field="supervise")
    except ApiError:
        metrics.submissions.labels("rejected").inc()
        raise
    res = spec.resources
    java_options = settings.driver_java_options
    properties = {"spark.driver.cores": "0", "spark.driver.memory": res.driverMemory,
                  "spark.executor.memory": res.executorMemory,
                  "spark.executor.cores": str(res.executorCores),
                  "spark.cores.max": str(res.maxCores),
                  "spark.driver.extraJavaOptions": java_options,
                  "spark.executor.extraJavaOptions": java_options,
                  "spark.driver.supervise": "true" if spec.supervise else "false"}
    script = f"{settings.jobs_dir.rstrip('/')}/{entry.script}"
    # Admission (admission.py): decide from a fresh /json/ and submit under one lock per replica,
    # so the next submission's decision sees this one's driver.
    gate = request.app.state.admission_lock if settings.admission_control else nullcontext()
    try:
        async with gate:
            if settings.admission_control:
                _admit(await master.cluster(fresh=True), spec, metrics)
            driver_id = await master.create(script, spec.args,
                                            ownership.app_name(principal.subject, entry.name),
                                            properties)
    except SparkUnavailable as exc:
        metrics.submissions.labels("spark_unavailable").inc()
        raise _unavailable(exc) from None
    metrics.submissions.labels("accepted").inc()
    tag = ownership.owner_tag(principal.subject)
    owners.learn(driver_id, (tag, entry.name))  # listed at once, even if it never launches
    job_id = ownership.job_id(driver_id, entry.name, tag)
    job = _job(request, job_id, JobRef(driver_id, entry.name, ""), "SUBMITTED")
    return JSONResponse(status_code=202, content=job.model_dump(mode="json"),
                        headers={"Location": job.links.self})


@router.get("", response_model=JobPage, responses=errors(*_AUTH, 422))
async def list_jobs(request: Request, principal: Reader, master: MasterDep,
                    ownership: OwnershipDep, owners: OwnersDep, settings: SettingsDep,
                    limit: Annotated[int, Query(ge=1, le=100)] = 20,
                    offset: Annotated[int, Query(ge=0, le=100000)] = 0) -> JobPage:
    """The caller's jobs (every API job for jobs:admin), newest first, from the master's /json/.

    Owners are resolved lazily in page order (owners.py): the drivers are walked newest first in
    batches until the page (and one more job, to know there is a next page) is found, so a page
    costs what it shows, not the master's whole history; lookups still unresolved when the
    budget (SPARK_API_LIST_OWNER_BUDGET) runs out make the answer ``partial``."""
    try:
        cluster = await master.cluster()
    except SparkUnavailable as exc:
        raise _unavailable(exc) from None
    uis = _log_readers(cluster)
    drivers = list(cluster.get("activedrivers", [])) + list(cluster.get("completeddrivers", []))
    # Ended drivers the master no longer lists (it restarted): from the API's memory.
    listed = {str(d.get("id", "")) for d in drivers}
    drivers += [{"id": driver_id, "state": ended.spark_state, "ended": ended}
                for driver_id, ended in owners.all_ended().items() if driver_id not in listed]
    drivers.sort(key=lambda d: str(d.get("id", "")), reverse=True)
    my_tag = ownership.owner_tag(principal.subject)
    wanted = offset + limit + 1
    deadline = time.monotonic() + settings.list_owner_budget
    batch = max(limit, 16)
    mine: list[Job] = []
    partial = False
    for start in range(0, len(drivers), batch):
        chunk = drivers[start:start + batch]
        refs = [DriverRef(str(d.get("id", "")), uis(d.get("worker"))) for d in chunk]
        for driver, owner in zip(chunk, await owners.owners(refs, deadline)):
            if owner is UNRESOLVED:
                partial = True
                continue
            if owner is None or not (principal.is_admin or owner[0] == my_tag):
                continue
            ended = driver.get("ended")
            if ended is None:
                worker = worker_fact(cluster, driver.get("worker"))
                _record_end(owners, driver["id"], owner, driver.get("state"), None, worker)
            tag, job_name = owner
            job_id = ownership.job_id(driver["id"], job_name, tag)
            mine.append(_job(request, job_id, JobRef(driver["id"], job_name, ""),
                             driver.get("state"),
                             worker if ended is None else _ended_worker(ended),
                             None if ended is None else ended.spark_message))
        if len(mine) >= wanted:
            break
    page = mine[offset:offset + limit]
    return JobPage(items=page, partial=partial,
                   nextOffset=offset + limit if len(mine) > offset + limit else None)


def _log_readers(cluster: dict) -> Callable[[str | None], str | None]:
    """A driver's worker id -> the UI of a live worker that serves that worker's driver logs.

    Only live workers can be asked (a DECOMMISSIONED one still runs until its drivers are done).
    A worker that died and was started again at the same address (a restarted container: same
    pod IP, port and work dir, a new worker id; Spark drops the DEAD entry from /json/ when it
    registers) serves its old drivers' logs too, so a driver is read from the live worker with
    the same ``<host>-<port>`` in its id. A driver whose worker is gone for good is known from
    the owner cache or not at all (like one never launched), so it does not make every list
    partial."""
    by_address = {address_of(str(w.get("id"))): w["webuiaddress"]
                  for w in cluster.get("workers", [])
                  if w.get("state") in ("ALIVE", "DECOMMISSIONED") and w.get("webuiaddress")}
    return lambda worker_id: by_address.get(address_of(worker_id)) if worker_id else None


@router.get("/{job_id}", response_model=Job, responses=errors(*_AUTH, 404))
async def get_job(request: Request, job_id: str, principal: Reader, master: MasterDep,
                  ownership: OwnershipDep, owners: OwnersDep, settings: SettingsDep) -> Job:
    ref = _authorize(parse_job_id(job_id), principal, ownership)
    try:
        status = await master.status(ref.driver_id)
        if not status.found:
            ended = _remembered(owners, job_id, ref, ownership)
            if ended is not None:  # ended before the master restarted (owners.Ended)
                return _job(request, job_id, ref, ended.spark_state, _ended_worker(ended),
                            ended.spark_message)
            raise ApiError(404, "not_found",
                           "no such job (the Spark master does not know it; it may have "
                           "restarted)")
        worker = await _worker(master, status)
        relaunched_as = None
        if (status.state or "").upper() == "RELAUNCHING":
            relaunched_as = await _relaunched_as(job_id, ref, master, owners, ownership,
                                                 settings.list_owner_budget)
    except SparkUnavailable as exc:
        raise _unavailable(exc) from None
    _learn(owners, ref, principal, ownership)
    _record_end(owners, ref.driver_id, _owner(owners, job_id, ref, principal, ownership),
                status.state, status.message, worker)
    return _job(request, job_id, ref, status.state, worker, status.message, relaunched_as)


async def _relaunched_as(job_id: str, ref: JobRef, master: SparkMaster, owners: OwnerIndex,
                         ownership: Ownership, budget: float) -> str | None:
    """The id of the job a supervised driver was relaunched as, when exactly one driver can be
    it. Nothing in /json/ links the two (Spark creates the copy from the same description under
    a new id), so: a newer driver with the same memory, cores and main class whose launch
    command names the same job and owner (checked against this id's HMAC)."""
    cluster = await master.cluster()
    drivers = list(cluster.get("activedrivers", [])) + list(cluster.get("completeddrivers", []))
    old = next((d for d in drivers if d.get("id") == ref.driver_id), None)
    if old is None:
        return None
    alike = sorted((d for d in drivers if str(d.get("id", "")) > ref.driver_id
                    and all(d.get(k) == old.get(k) for k in ("memory", "cores", "mainclass"))),
                   key=lambda d: str(d.get("id")))[:16]
    readers = _log_readers(cluster)
    found = await owners.owners([DriverRef(str(d["id"]), readers(d.get("worker")))
                                 for d in alike], time.monotonic() + budget)
    matches = [ownership.job_id(str(d["id"]), owner[1], owner[0])
               for d, owner in zip(alike, found)
               if isinstance(owner, tuple) and owner[1] == ref.job
               and ownership.job_id(ref.driver_id, owner[1], owner[0]) == job_id]
    return matches[0] if len(matches) == 1 else None


@router.delete("/{job_id}", response_model=Job, responses=errors(*_AUTH, 404, 409))
async def kill_job(request: Request, job_id: str, principal: Submitter, master: MasterDep,
                   ownership: OwnershipDep, owners: OwnersDep) -> Job:
    """Kill the job and wait briefly (up to ~10 s) until Spark reports it ended.

    The job is not removed: it stays readable (and listed) with state KILLED. A job that
    already ended is answered 409 naming its state and why it ended."""
    ref = _authorize(parse_job_id(job_id), principal, ownership)
    try:
        status = await master.status(ref.driver_id, fresh=True)
        if not status.found:
            remembered = _remembered(owners, job_id, ref, ownership)
            if remembered is None:
                raise ApiError(404, "not_found", "no such job")
            ended, why = describe(remembered.spark_state, _ended_worker(remembered),
                                  remembered.spark_message)
            raise ApiError(409, "already_finished",
                           f"the job already ended in state {ended.value}: {why}")
        _learn(owners, ref, principal, ownership)  # so it stays listed if killed before launch
        owner = _owner(owners, job_id, ref, principal, ownership)
        if from_driver_state(status.state) in TERMINAL:
            worker = await _worker(master, status)
            _record_end(owners, ref.driver_id, owner, status.state, status.message, worker)
            ended, why = describe(status.state, worker, status.message)
            raise ApiError(409, "already_finished",
                           f"the job already ended in state {ended.value}: {why}")
        await master.kill(ref.driver_id)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            status = await master.status(ref.driver_id, fresh=True)
            if from_driver_state(status.state) in TERMINAL:
                break
            await asyncio.sleep(0.25)
        worker = await _worker(master, status)
    except SparkUnavailable as exc:
        raise _unavailable(exc) from None
    _record_end(owners, ref.driver_id, owner, status.state, status.message, worker)
    return _job(request, job_id, ref, status.state, worker, status.message)


def _logs_gone(worker: WorkerFact) -> ApiError:
    return ApiError(410, "logs_gone",
                    f"the driver's logs were on {worker.label}, which is gone "
                    f"({(worker.state or 'no longer known to the master').lower()}): they "
                    "cannot be read any more; the job's state and message still can")


@router.get("/{job_id}/logs", response_model=LogChunk,
            responses=errors(*_AUTH, 404, 410, 422))
async def job_logs(job_id: str, principal: Reader, master: MasterDep, ownership: OwnershipDep,
                   owners: OwnersDep,
                   stream: Annotated[Literal["stdout", "stderr"], Query()] = "stdout",
                   offset: Annotated[int, Query(ge=0, le=MAX_LOG_OFFSET)] = 0,
                   length: Annotated[int, Query(ge=1, le=1024 * 1024)] = 65536) -> LogChunk:
    """The driver's output (stdout holds the script's prints and tracebacks), a bounded slice.

    Empty while the driver waits for a worker; 410 ``logs_gone`` once the worker that held
    them is gone (DEAD, DECOMMISSIONED and unreachable, or no longer listed by the master)
    and no live worker at the same address (the same worker, restarted) serves them. A job
    that ended before the master restarted (remembered, owners.Ended) is read from its
    worker the same way: from a live worker at that worker's address, else 410."""
    ref = _authorize(parse_job_id(job_id), principal, ownership)
    try:
        status = await master.status(ref.driver_id)
        if not status.found:
            ended = _remembered(owners, job_id, ref, ownership)
            if ended is None:
                raise ApiError(404, "not_found", "no such job")
            status = DriverStatus(True, ended.spark_state, ended.spark_message,
                                  ended.worker[0] if ended.worker else None)
        cluster = await master.cluster()
        worker = worker_fact(cluster, status.worker_id)
        if worker is None:
            return LogChunk(id=job_id, stream=stream, offset=offset, length=0, total=0,
                            nextOffset=offset, text="")
        ui = _log_readers(cluster)(worker.id)
        if ui is None:
            raise _logs_gone(worker)
        try:
            piece = await master.read_log(ui, ref.driver_id, stream, offset, length)
        except SparkUnavailable as exc:
            if worker.state == "ALIVE":
                log.warning("worker log unavailable: %s", exc)
                raise ApiError(503, "worker_unavailable",
                               f"{worker.label} holds the driver's logs but did not answer; "
                               "try again shortly", headers={"Retry-After": "5"}) from None
            raise _logs_gone(worker) from None  # decommissioned: it went away meanwhile
    except SparkUnavailable as exc:
        raise _unavailable(exc) from None
    return LogChunk(id=job_id, stream=stream, offset=piece.start, length=piece.end - piece.start,
                    total=piece.total, nextOffset=piece.end, text=piece.text)

