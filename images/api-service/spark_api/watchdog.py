"""Liveness: is this process still able to work, whatever the state of the Spark master?

Seen once (issue 8): after a burst, every call to the master answered PoolTimeout for good while
the master was fine and the API idle, and ``/healthz`` stayed 200, so nothing restarted it.
``WatchedTransport`` wraps the master client's transport and records, per request, whether it
got past the connection pool: an answer or a network error (master down, timeouts) is progress;
only a PoolTimeout is not. The pool is *wedged* when pool timeouts happen and nothing has made
progress for ``stall_seconds`` (every request has a 10 s timeout, so a pool that is merely busy
makes progress well within that). A master that is down is progress too (connect errors), so
``/livez`` does not restart every replica when only the master is gone.

``/livez`` answers from the recorded state at once (it never waits for the master) and starts a
background probe of the master's ``/json/`` through the same client, at most one at a time and
one per ``probe_interval``, so an idle wedged pool is found too. A blocked event loop cannot
answer at all, which the kubelet's probe timeout catches.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx

log = logging.getLogger("spark_api.watchdog")


class WatchedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.last_progress = time.monotonic()
        self.last_pool_timeout: float | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.PoolTimeout:
            self.last_pool_timeout = time.monotonic()
            raise
        except httpx.TransportError:
            self.last_progress = time.monotonic()  # past the pool: the network answered
            raise
        self.last_progress = time.monotonic()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True)
class Liveness:
    alive: bool
    reason: str


class Watchdog:
    def __init__(self, transport: WatchedTransport, client: httpx.AsyncClient, probe_url: str,
                 stall_seconds: float = 30.0, probe_interval: float = 10.0) -> None:
        self.transport, self.client, self.probe_url = transport, client, probe_url
        self.stall_seconds, self.probe_interval = stall_seconds, probe_interval
        self._probe: asyncio.Task[None] | None = None
        self._probed_at = float("-inf")

    async def probe(self) -> None:
        """One GET of the master's /json/ through the watched client (its own timeouts)."""
        try:
            await self.client.get(self.probe_url)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError):
            pass  # the transport recorded what happened; the master may well be down
        except RuntimeError:
            pass  # the client was closed under it: the app is shutting down

    def check(self) -> Liveness:
        now = time.monotonic()
        if (self._probe is None or self._probe.done()) \
                and now - self._probed_at >= self.probe_interval:
            self._probed_at = now
            self._probe = asyncio.get_running_loop().create_task(self.probe())
        t = self.transport
        stalled = now - t.last_progress
        if t.last_pool_timeout is not None and t.last_pool_timeout > t.last_progress \
                and stalled > self.stall_seconds:
            log.error("the master client's connection pool is wedged: only pool timeouts for "
                      "%.0f s", stalled)
            return Liveness(False, f"the Spark master client's connection pool has been stuck "
                                   f"for {stalled:.0f} s")
        return Liveness(True, "ok")
