"""Which owner (and job) each driver belongs to, for listing, without ever wedging the API.

The fact is read once from the worker's log of the driver (its launch command carries
``spark.app.name``, see the package docstring) and never changes, so it is cached by driver id.
What keeps a burst of list calls after a cold start from starving everything else:

- single flight: one lookup per driver at a time, shared by every request that needs it; a
  request that stops waiting does not cancel it (the next request finds the answer cached);
- its own budget: lookups go through their own HTTP client (its own small connection pool) and
  at most ``concurrency`` run at once, so the master client's pool (``/json/``, the REST gateway)
  never waits behind them;
- bounded waiting: a list waits for lookups until its deadline, then answers with what it knows
  and says the list is partial;
- failures are not retried for ``retry_after`` seconds (a dead worker is not asked again by every
  request).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import Counter

from .ownership import APP_PREFIX, parse_app_name
from .spark import LAUNCH_HEAD_BYTES, SparkUnavailable, parse_log_slice

log = logging.getLogger("spark_api.owners")

_APP_NAME_PROP = re.compile(r"-Dspark\.app\.name=([^\s'\"]+)")
# One fact per line: ``<driver> <app name>`` (its owner), or ``<driver> <app name> <json>`` (it
# ended: see ``Ended``). A reader before the second form skips those lines (no match).
_FACT = re.compile(r"^(driver-\d{14}-\d{4,}) (\S+)(?: (\{.*\}))?$")
FACTS_MAX_BYTES = 16 * 1024 * 1024  # ~200k facts; past it nothing more is written (logged)
Owner = tuple[str, str]  # (owner tag, job name)


class _Unresolved:
    def __repr__(self) -> str:
        return "UNRESOLVED"


UNRESOLVED: Any = _Unresolved()  # not known in time (the list says it is partial)


@dataclass(frozen=True)
class DriverRef:
    """What the master's /json/ says about a driver that a lookup needs."""

    id: str
    worker_ui: str | None  # None: not launched (yet), or no live worker has its log


@dataclass(frozen=True)
class Ended:
    """A driver seen in a terminal state, kept because the master forgets it: with recovery
    on, Spark persists only active drivers, so after a master restart the ended ones leave
    /json/ and the REST status (see ``OwnerIndex.ended``). ``worker`` is the driver's worker
    as the master showed it then ((id, host, state), or None: never launched)."""

    owner: Owner
    spark_state: str
    spark_message: str | None
    worker: tuple[str, str | None, str | None] | None

    def line(self, driver_id: str) -> str:
        data = {"state": self.spark_state, "message": self.spark_message,
                "worker": list(self.worker) if self.worker else None}
        return (f"{driver_id} {APP_PREFIX}.{self.owner[0]}.{self.owner[1]} "
                f"{json.dumps(data, separators=(',', ':'))}\n")

    @classmethod
    def parse(cls, owner: Owner, text: str) -> Ended | None:
        try:
            data = json.loads(text)
            state, message, worker = data["state"], data.get("message"), data.get("worker")
            if not isinstance(state, str) or not isinstance(message, str | None):
                return None
            if worker is not None:
                if not (isinstance(worker, list) and len(worker) == 3
                        and all(isinstance(w, str | None) for w in worker) and worker[0]):
                    return None
                worker = tuple(worker)
        except (ValueError, KeyError, TypeError):
            return None
        return cls(owner, state, message, worker)


class OwnerIndex:
    def __init__(self, client: httpx.AsyncClient, concurrency: int = 8,
                 retry_after: float = 10.0, max_entries: int = 10000,
                 timeout: float = 5.0, counter: Counter | None = None,
                 facts_file: Path | None = None) -> None:
        self.client, self.timeout, self.counter = client, timeout, counter
        # Owner facts kept on the pod's disk (SPARK_API_OWNER_FACTS_FILE), shared by the
        # processes of a replica and kept across its restarts: a driver that never ran on a
        # worker, or whose worker is gone for good, has no other source (see ``learn``).
        self.facts_file, self._facts_read = facts_file, 0
        self.retry_after, self.max_entries = retry_after, max_entries
        self._known: OrderedDict[str, Owner | None] = OrderedDict()  # None: not an API job
        self._ended: OrderedDict[str, Ended] = OrderedDict()  # driver id -> how it ended
        self._failed: dict[str, float] = {}  # driver id -> monotonic time to try again
        self._inflight: dict[str, asyncio.Task[Owner | None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self.lookups = 0  # log reads started (each driver's at most once while it succeeds)

    def _count(self, outcome: str) -> None:
        if self.counter is not None:
            self.counter.labels(outcome).inc()

    def cached(self, driver_id: str) -> Owner | None | Any:
        """The owner if known, else UNRESOLVED (no I/O)."""
        if driver_id in self._known:
            self._known.move_to_end(driver_id)
            return self._known[driver_id]
        if driver_id in self._ended:
            return self._ended[driver_id].owner
        return UNRESOLVED

    def _merge_facts(self) -> None:
        """Take in what was appended to the facts file since the last look (cheap: a stat)."""
        if self.facts_file is None:
            return
        try:
            size = self.facts_file.stat().st_size
            if size < self._facts_read:
                self._facts_read = 0  # replaced: read it again
            if size == self._facts_read:
                return
            with self.facts_file.open("rb") as handle:
                handle.seek(self._facts_read)
                data = handle.read(size - self._facts_read)
        except OSError as exc:
            log.warning("owner facts file %s unreadable: %s", self.facts_file, exc)
            return
        complete = data[:data.rfind(b"\n") + 1]  # a line being written is read next time
        self._facts_read += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            match = _FACT.match(line)
            owner = parse_app_name(match.group(2)) if match else None
            if match and owner:
                self._remember(match.group(1), owner)
                ended = Ended.parse(owner, match.group(3)) if match.group(3) else None
                if ended is not None:
                    self._remember_ended(match.group(1), ended)

    def _append_fact(self, driver_id: str, owner: Owner, ended: Ended | None = None) -> None:
        if self.facts_file is None:
            return
        line = (ended.line(driver_id) if ended else
                f"{driver_id} {APP_PREFIX}.{owner[0]}.{owner[1]}\n").encode()
        try:
            if self.facts_file.exists() and \
                    self.facts_file.stat().st_size + len(line) > FACTS_MAX_BYTES:
                log.warning("owner facts file %s is full (%d bytes): not recording %s",
                            self.facts_file, FACTS_MAX_BYTES, driver_id)
                return
            # O_APPEND: one small write per line, whole even with several writers.
            fd = os.open(self.facts_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("owner facts file %s not writable: %s", self.facts_file, exc)

    def _remember(self, driver_id: str, owner: Owner | None) -> None:
        self._known[driver_id] = owner
        self._known.move_to_end(driver_id)
        self._failed.pop(driver_id, None)
        while len(self._known) > self.max_entries:
            self._known.popitem(last=False)

    def _remember_ended(self, driver_id: str, ended: Ended) -> None:
        known = self._ended.get(driver_id)
        if known is not None and known.spark_message and not ended.spark_message:
            return  # two processes recorded it: keep the one with Spark's message
        self._ended[driver_id] = ended
        while len(self._ended) > self.max_entries:
            self._ended.popitem(last=False)

    def ended(self, driver_id: str, owner: Owner, spark_state: str,
              spark_message: str | None = None,
              worker: tuple[str, str | None, str | None] | None = None) -> None:
        """Record that an API driver ended (``spark_state`` terminal): once, as it is final;
        again only to add Spark's message, which a list (from /json/) does not have but a
        read by id does. Kept in memory and, with a facts file, on the pod's disk like the
        owner facts, so the job stays listed and readable after the master forgot it."""
        for merge in (False, True):  # memory first: a list calls this for each ended driver
            if merge:
                self._merge_facts()
            known = self._ended.get(driver_id)
            if known is not None and (known.spark_message or not spark_message):
                return
        fact = Ended(owner, spark_state.upper(), spark_message, worker)
        self._remember(driver_id, owner)
        self._remember_ended(driver_id, fact)
        self._append_fact(driver_id, owner, fact)

    def remembered(self, driver_id: str) -> Ended | None:
        """How ``driver_id`` ended, if this replica saw it end (reads new facts first)."""
        self._merge_facts()
        return self._ended.get(driver_id)

    def all_ended(self) -> dict[str, Ended]:
        """Every remembered ended driver (reads new facts first)."""
        self._merge_facts()
        return dict(self._ended)

    def learn(self, driver_id: str, owner: Owner | None) -> None:
        """Record an owner proven otherwise: this replica submitted the driver, or its owner
        presented the HMAC-checked job id. The only way a driver that never ran on a worker
        (killed while waiting), or whose worker is gone for good, can be listed: the master
        shows no owner fact for those (Spark's /json/ gives a driver's id, state, cores,
        memory, worker and main class only), so it is known to the replica that learned it,
        and, with a facts file, to every process of that replica and after its restarts.
        Owners read from a worker's log are recorded too (they outlive the worker)."""
        known = self._known.get(driver_id, UNRESOLVED)
        self._remember(driver_id, owner)
        if owner is not None and known != owner:
            self._append_fact(driver_id, owner)

    async def _read_owner(self, ref: DriverRef) -> Owner | None | Any:
        assert ref.worker_ui is not None
        async with self._slots:
            self.lookups += 1
            url = ref.worker_ui.rstrip("/") + "/log/"
            try:
                response = await self.client.get(
                    url, timeout=self.timeout,
                    params={"driverId": ref.id, "logType": "stderr", "offset": 0,
                            "byteLength": LAUNCH_HEAD_BYTES})
                if response.status_code != 200:
                    raise SparkUnavailable(f"{url} answered HTTP {response.status_code}")
                head = parse_log_slice(response.text, 0)
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError,
                    SparkUnavailable) as exc:
                log.info("owner of %s not known yet: %s: %s", ref.id, type(exc).__name__, exc)
                self._failed[ref.id] = time.monotonic() + self.retry_after
                self._count("failed")
                return UNRESOLVED
        if "Launch Command" not in head.text:
            # Not written yet (the driver is launching): ask again shortly, not every request.
            self._failed[ref.id] = time.monotonic() + min(2.0, self.retry_after)
            self._count("not_yet")
            return UNRESOLVED
        match = _APP_NAME_PROP.search(head.text)
        owner = parse_app_name(match.group(1)) if match else None
        self._count("found" if owner else "not_api")
        self.learn(ref.id, owner)
        return owner

    def _lookup(self, ref: DriverRef) -> asyncio.Task[Owner | None] | None:
        """The shared lookup task for ``ref`` (started if needed), or None if none may run."""
        task = self._inflight.get(ref.id)
        if task is not None:
            return task
        if ref.worker_ui is None or self._failed.get(ref.id, 0.0) > time.monotonic():
            return None
        task = asyncio.get_running_loop().create_task(self._read_owner(ref))
        self._inflight[ref.id] = task
        task.add_done_callback(lambda _: self._inflight.pop(ref.id, None))
        return task

    async def owners(self, refs: Iterable[DriverRef], deadline: float) -> list[Any]:
        """Owner (or None, or UNRESOLVED) per driver, waiting for lookups until ``deadline``
        (monotonic). Lookups still running then go on for the next request."""
        refs = list(refs)
        self._merge_facts()
        result = [self.cached(ref.id) for ref in refs]
        pending = {}
        for n, ref in enumerate(refs):
            if result[n] is not UNRESOLVED:
                continue
            if ref.worker_ui is None:
                result[n] = None  # not launched: no log to read, the owner cannot be known
                continue
            task = self._lookup(ref)
            if task is not None:
                pending[n] = task
        remaining = deadline - time.monotonic()
        if pending and remaining > 0:
            # asyncio.wait neither cancels the lookups on timeout nor when this request is
            # cancelled: they finish for whoever asks next.
            await asyncio.wait(set(pending.values()), timeout=remaining)
        for n, task in pending.items():
            if task.done() and not task.cancelled() and task.exception() is None:
                result[n] = task.result()
        return result
