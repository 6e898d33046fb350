"""The Spark master's REST gateway, its /json/ status, and the workers' log endpoint.

Every network failure becomes ``SparkUnavailable`` (answered 503, the reason logged); the client
holds no connection state that a master restart could poison, so the API recovers by itself.

Driver status reads are shared (``SparkMaster.status``): concurrent readers of one driver join
ONE request in flight, and its answer serves later readers for ``status_cache_seconds`` (TTL,
SPARK_API_STATUS_CACHE_SECONDS, default 0.25 s; 0: only the sharing). During the TTL after that
the answer still serves, while one read in the background refreshes it, so readers of a busy
driver never wait for the master; after 2 x TTL without a read, a reader waits for a new one. So
a reader sees a state at most 2 x TTL (+ one master round trip) old. A terminal state (FINISHED,
FAILED, KILLED, ERROR) is final and kept for good, in a bounded table (the least recently used
leave first). A failed read is never kept. ``kill`` forgets the driver's entry.
"""
from __future__ import annotations

import asyncio
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import Counter

from .expiring import Expiring
from .rest_auth import RestAuth
from .settings import Settings
from .states import TERMINAL, from_driver_state

SPARK_VERSION = "4.3.0"
_LOG_HEADER = re.compile(r"^==== Bytes (\d+)-(\d+) of (\d+) of .*? ====\n?")
LAUNCH_HEAD_BYTES = 16384  # the head of a driver's stderr that holds its launch command
STATUS_CACHE_ENTRIES = 4096  # drivers whose last status is kept (terminal ones for good)


class SparkUnavailable(Exception):
    """The master (or a worker) could not be reached or answered nonsense."""


@dataclass(frozen=True)
class DriverStatus:
    found: bool
    state: str | None
    message: str | None
    worker_id: str | None


@dataclass(frozen=True)
class LogSlice:
    text: str
    start: int
    end: int
    total: int


def parse_log_slice(text: str, offset: int) -> LogSlice:
    """A worker's ``/log/`` answer: a ``==== Bytes a-b of n of ... ====`` header, then text."""
    match = _LOG_HEADER.match(text)
    if not match:
        if "Error" in text[:200] or not text:
            return LogSlice("", offset, offset, 0)
        raise SparkUnavailable("unexpected answer from the worker log endpoint")
    start, end, total = (int(g) for g in match.groups())
    return LogSlice(text[match.end():], start, end, total)


class SparkMaster:
    def __init__(self, settings: Settings, client: httpx.AsyncClient,
                 status_reads: Counter | None = None) -> None:
        self.settings, self.client = settings, client
        self.status_reads = status_reads  # counts the status requests sent to the master
        self.rest = settings.master_rest_base + "/v1/submissions"
        self.ui = settings.master_ui_base
        self.rest_auth = RestAuth.from_settings(settings)
        self._cluster: asyncio.Task[dict[str, Any]] | None = None
        self.status_ttl = settings.status_cache_seconds
        # driver id -> (monotonic time after which a read refreshes it, its last status); an
        # entry answers until 2 x the TTL after its read (a terminal one for good)
        self._statuses: Expiring[str, tuple[float, DriverStatus]] = \
            Expiring(STATUS_CACHE_ENTRIES)
        self._reading: dict[str, asyncio.Task[DriverStatus]] = {}

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        kwargs = self.rest_auth.sign(url, kwargs)
        try:
            response = await self.client.request(method, url, timeout=10.0, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:  # every httpx error
            raise SparkUnavailable(f"{url} is unreachable ({type(exc).__name__}: {exc})") from exc
        if response.status_code >= 500:
            raise SparkUnavailable(f"{url} answered HTTP {response.status_code}")
        if refused := self.rest_auth.refused(url, response):
            raise SparkUnavailable(refused)
        return response

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._request(method, url, **kwargs)
        try:
            data = response.json()
        except ValueError as exc:
            raise SparkUnavailable(f"{url} did not answer JSON (HTTP {response.status_code})") \
                from exc
        if not isinstance(data, dict):
            raise SparkUnavailable(f"{url} did not answer a JSON object")
        return data

    async def cluster(self, fresh: bool = False) -> dict[str, Any]:
        """The master's /json/; concurrent callers share one request in flight (a burst of
        list calls costs the master one answer, and the pool one connection). ``fresh``: a
        request of its own, started now (admission needs what the master knows after the
        previous submission)."""
        if fresh:
            return await self._json("GET", self.ui + "/json/")
        task = self._cluster
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._json("GET", self.ui + "/json/"))
            self._cluster = task
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(task)

    @property
    def latency_properties(self) -> dict[str, str]:
        """Spark conf that cuts a job's start-up without changing its work, each from a setting
        (measured A/B by bench/job_latency_bench.py)."""
        return {"spark.ui.enabled": str(self.settings.driver_ui).lower()}

    async def create(self, script_path: str, args: dict[str, Any], app_name: str,
                     properties: dict[str, str]) -> str:
        body = {
            "action": "CreateSubmissionRequest",
            "appResource": f"file:{script_path}",
            "mainClass": "org.apache.spark.deploy.PythonRunner",
            "appArgs": [script_path, "", json.dumps(args, separators=(",", ":"))],
            "clientSparkVersion": SPARK_VERSION,
            "sparkProperties": {"spark.app.name": app_name,
                                "spark.master": self.settings.master_url,
                                "spark.submit.deployMode": "cluster",
                                "spark.driver.supervise": "false",
                                **self.latency_properties, **properties,
                                **self.rest_auth.submission_properties},
            "environmentVariables": {"SPARK_ENV_LOADED": "1"},
        }
        data = await self._json("POST", self.rest + "/create", json=body)
        if not data.get("success") or not data.get("submissionId"):
            raise SparkUnavailable(f"the master refused the submission: {data.get('message')}")
        return str(data["submissionId"])

    async def status(self, driver_id: str, fresh: bool = False) -> DriverStatus:
        """The driver's status, shared (module docstring). ``fresh``: never an answer kept
        from before (a read of its own, which then refreshes the entry)."""
        if fresh:
            return await self._read_status(driver_id)
        now = time.monotonic()
        kept = self._statuses.get(driver_id, now)
        if kept is None:
            # a reader that goes away leaves the read to the others
            return await asyncio.shield(self._shared_read(driver_id))
        refresh_after, status = kept
        if now >= refresh_after:
            self._shared_read(driver_id)  # ageing: refreshed in the background, not awaited
        return status

    def _shared_read(self, driver_id: str) -> asyncio.Task[DriverStatus]:
        """The read of this driver in flight, or a new one."""
        task = self._reading.get(driver_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._read_status(driver_id))
            self._reading[driver_id] = task
            task.add_done_callback(lambda t: self._status_read_done(driver_id, t))
        return task

    def _status_read_done(self, driver_id: str, task: asyncio.Task[DriverStatus]) -> None:
        if self._reading.get(driver_id) is task:
            del self._reading[driver_id]
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter got it already

    async def _read_status(self, driver_id: str) -> DriverStatus:
        if self.status_reads is not None:
            self.status_reads.inc()
        data = await self._json("GET", f"{self.rest}/status/{driver_id}")
        status = DriverStatus(
            found=bool(data.get("success")) and data.get("driverState") is not None,
            state=data.get("driverState"), message=data.get("message"),
            worker_id=data.get("workerId"))
        if status.found and from_driver_state(status.state) in TERMINAL:
            self._statuses.put(driver_id, (math.inf, status))   # final: kept for good
        else:
            now = time.monotonic()
            self._statuses.put(driver_id, (now + self.status_ttl, status),
                               until=now + 2 * self.status_ttl)
        return status

    async def kill(self, driver_id: str) -> tuple[bool, str | None]:
        self._statuses.pop(driver_id)
        data = await self._json("POST", f"{self.rest}/kill/{driver_id}")
        return bool(data.get("success")), data.get("message")

    async def worker_ui(self, worker_id: str | None,
                        cluster: dict[str, Any] | None = None) -> str | None:
        if not worker_id or worker_id == "None":
            return None
        cluster = cluster if cluster is not None else await self.cluster()
        for worker in cluster.get("workers", []):
            if worker.get("id") == worker_id:
                return worker.get("webuiaddress")
        return None

    async def read_log(self, worker_ui: str, driver_id: str, stream: str, offset: int,
                       length: int) -> LogSlice:
        response = await self._request(
            "GET", worker_ui.rstrip("/") + "/log/",
            params={"driverId": driver_id, "logType": stream, "offset": offset,
                    "byteLength": length})
        if response.status_code != 200:
            raise SparkUnavailable(f"worker log endpoint answered HTTP {response.status_code}")
        return parse_log_slice(response.text, offset)
