"""/livez catches a wedged master client and does not fail when only the master is down.

The wedge is made for real: a connection pool of one connection (real httpx pool, real HTTP
server) whose only connection is leaked, as a request cancelled at the wrong moment once left
one behind; the master down is a real address where nothing listens.
"""
from __future__ import annotations

import asyncio
import time

import httpx

from .helpers import dead_master_url, free_loopback, oidc_env
from .tls_servers import RecordingServer


def test_livez_stays_up_while_the_master_is_down(api_factory, oauth) -> None:
    api = api_factory(oidc_env(oauth.issuer, dead_master_url(),
                               SPARK_API_LIVENESS_STALL_SECONDS="1"))
    assert httpx.get(api.url + "/readyz").status_code == 503  # not ready: no master
    first = httpx.get(api.url + "/livez")  # also starts a probe of the (dead) master
    assert first.status_code == 200, first.text
    time.sleep(1.5)  # setup: past the stall window
    for _ in range(3):
        response = httpx.get(api.url + "/livez")
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "alive"}


def _watchdog(url: str):
    from spark_api.watchdog import Watchdog, WatchedTransport

    transport = WatchedTransport(httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)))
    client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, pool=0.2))
    # probe_interval: check() starts no probes of its own; the test probes by itself.
    return Watchdog(transport, client, url, stall_seconds=0.5, probe_interval=3600), client


def test_a_leaked_pool_is_reported_and_recovery_is_seen() -> None:
    server = RecordingServer(free_loopback()[0], lambda: {"status": "ALIVE"}).start()

    async def scenario() -> list[bool]:
        dog, client = _watchdog(server.url + "/json/")
        seen = []
        await dog.probe()
        seen.append(dog.check().alive)  # healthy
        leaked = await client.send(client.build_request("GET", server.url + "/json/"),
                                   stream=True)  # never read nor closed: the pool's only slot
        await asyncio.sleep(0.6)  # setup: past the stall window
        await dog.probe()  # PoolTimeout: nothing can get a connection
        state = dog.check()
        seen.append(state.alive)
        assert "pool" in state.reason
        await leaked.aclose()  # the slot comes back
        await dog.probe()
        seen.append(dog.check().alive)
        await client.aclose()
        return seen

    try:
        assert asyncio.run(scenario()) == [True, False, True]
    finally:
        server.stop()


def test_a_dead_master_is_not_a_wedge() -> None:
    async def scenario() -> bool:
        host_port = dead_master_url()[len("spark://"):]
        dog, client = _watchdog(f"http://{host_port}/json/")
        for _ in range(3):
            await dog.probe()  # connection refused: the network answered
            await asyncio.sleep(0.3)
        alive = dog.check().alive
        await client.aclose()
        return alive

    assert asyncio.run(scenario()) is True


def test_a_hung_master_is_not_a_wedge() -> None:
    """A master that accepts connections and never answers (a stopped JVM): requests time out
    after being sent, which is progress past the pool, so /livez does not restart replicas."""
    import socket

    listener = socket.socket()
    listener.bind((free_loopback()[0], 0))
    listener.listen(16)  # the kernel accepts; nobody ever reads or answers
    host, port = listener.getsockname()

    async def scenario() -> bool:
        dog, client = _watchdog(f"http://{host}:{port}/json/")
        client.timeout = httpx.Timeout(0.3, pool=0.2)
        # One probe holds the only connection until its ReadTimeout (0.3 s); the other two
        # give up waiting for the pool first (0.2 s): pool timeouts, then progress.
        await asyncio.gather(*(dog.probe() for _ in range(3)))
        assert dog.transport.last_pool_timeout is not None
        await asyncio.sleep(0.6)  # setup: past the stall window
        alive = dog.check().alive
        await client.aclose()
        return alive

    try:
        assert asyncio.run(scenario()) is True
    finally:
        listener.close()
