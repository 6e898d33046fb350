"""The status read path's sharing (issue 13): the verified-token table and the shared driver
status reads. Tokens are real, signed by the real mock OAuth server (a server of this module's
own, since one test rotates its keys); only the clock is moved by hand where a test needs a
token's ``exp`` to pass. The master's REST answers come from a scripted transport in the unit
tests (they count and hold requests, which a real master cannot), and from the real master in
the ``spark`` test at the end.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from types import SimpleNamespace

import httpx
import psutil
import pytest
from pydantic import ValidationError

from simulator.oauth import MockOAuthServer

from .helpers import CLIENTS, bearer, dead_master_url, free_loopback, oidc_env

from spark_api import auth  # noqa: E402  (tests/api/conftest.py puts spark_api on sys.path)
from spark_api.errors import ApiError  # noqa: E402
from spark_api.expiring import Expiring  # noqa: E402
from spark_api.metrics import Metrics  # noqa: E402
from spark_api.settings import Settings  # noqa: E402
from spark_api.spark import SparkMaster, SparkUnavailable  # noqa: E402

AUDIENCE = "spark-api"


# --- Expiring: the table both caches use ---------------------------------------------------------
def test_expiring_answers_until_its_time_and_keeps_the_most_recent() -> None:
    table: Expiring[str, int] = Expiring(2)
    table.put("a", 1, until=10.0)
    assert table.get("a", 9.9) == 1
    assert table.get("a", 10.0) is None and len(table) == 0  # gone once expired
    table.put("a", 1)
    table.put("b", 2)
    table.get("a", 0.0)      # a is now the most recently used
    table.put("c", 3)        # over the bound: b (least recently used) leaves
    assert (table.get("a", 1e12), table.get("b", 0.0), table.get("c", 0.0)) == (1, None, 3)
    assert table.drop_if(lambda v: v == 3) == 1 and len(table) == 1
    with pytest.raises(ValueError, match="max_entries"):
        Expiring(0)


# --- the verified-token table -------------------------------------------------------------------
@pytest.fixture
def issuer():
    ip, _ = free_loopback()
    server = MockOAuthServer(ip, 0, CLIENTS, audience=AUDIENCE, token_lifetime=300,
                             enable_test_mint=True)
    running = server.start()
    try:
        yield server, running
    finally:
        server.stop()


def _token(running, **body) -> str:
    body.setdefault("sub", "alice")
    body.setdefault("scope", "jobs:read")
    response = httpx.post(running.issuer + "/test/mint", json=body, timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


def _verifier_run(running, steps):
    """Run ``steps(verifier)`` (a coroutine function) with a verifier of ``running``'s tokens."""
    async def main():
        async with httpx.AsyncClient() as client:
            verifier = auth.OidcVerifier(running.issuer, AUDIENCE, client,
                                         refresh_interval=0.001)
            return await steps(verifier)
    return asyncio.run(main())


def _refused(verifier, token: str) -> str:
    async def attempt() -> str:
        with pytest.raises(ApiError) as caught:
            await verifier.verify(token)
        assert caught.value.status == 401
        return caught.value.message
    return attempt()


def test_a_verified_token_is_checked_once_and_a_bad_signature_never_remembered(issuer) -> None:
    _, running = issuer
    good = _token(running)
    head, payload, signature = good.split(".")
    forged = ".".join([head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])

    async def steps(verifier):
        first = await verifier.verify(good)
        second = await verifier.verify(good)
        assert second == first and verifier.signature_checks == 1
        for n in range(3):  # each try of the forged token pays the full check, and fails
            assert "signature" in await _refused(verifier, forged)
            assert verifier.signature_checks == 2 + n
        assert await verifier.verify(good) == first and verifier.signature_checks == 4

    _verifier_run(running, steps)


def test_a_remembered_token_still_expires(issuer, monkeypatch) -> None:
    _, running = issuer
    exp = int(time.time()) + 120
    token = _token(running, claims={"exp": exp})
    clock = SimpleNamespace(time=time.time, monotonic=time.monotonic)
    monkeypatch.setattr(auth, "time", clock)

    async def steps(verifier):
        await verifier.verify(token)
        clock.time = lambda: exp + auth.LEEWAY_SECONDS - 1   # still within the leeway
        await verifier.verify(token)
        assert verifier.signature_checks == 1
        clock.time = lambda: exp + auth.LEEWAY_SECONDS + 1
        assert "expired" in await _refused(verifier, token)
        assert "expired" in await _refused(verifier, token)  # and it stays refused

    _verifier_run(running, steps)


def test_a_key_dropped_from_the_jwks_takes_its_remembered_tokens_along(issuer) -> None:
    server, running = issuer
    old = _token(running)

    async def steps(verifier):
        await verifier.verify(old)
        server.rotate_keys(grace_seconds=0)     # the old key leaves the JWKS at once
        new = _token(running)                   # a new kid: the verifier refreshes the JWKS
        await asyncio.sleep(0.01)               # past the (tiny) refresh interval
        await verifier.verify(new)
        assert "unknown signing key" in await _refused(verifier, old)

    _verifier_run(running, steps)


# --- shared driver status reads -----------------------------------------------------------------
DRIVER = "driver-20260101000000-0001"


class ScriptedMaster:
    """The master's REST answers: counts status requests, can hold them, can fail one."""

    def __init__(self, state: str = "RUNNING") -> None:
        self.state, self.requests, self.fail_next = state, 0, False
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if "/status/" in request.url.path:
            self.requests += 1
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise httpx.ConnectError("refused", request=request)
        if "/kill/" in request.url.path:
            self.state = "KILLED"
            return httpx.Response(200, json={"success": True})
        return httpx.Response(200, json={"success": True, "driverState": self.state,
                                         "workerId": "worker-1"})


def _master_run(steps, ttl: float, state: str = "RUNNING"):
    async def main():
        scripted = ScriptedMaster(state)
        metrics = Metrics()
        settings = Settings(master_url="spark://127.0.0.1:7077", auth_mode="disabled",
                            status_cache_seconds=ttl)
        async with httpx.AsyncClient(transport=httpx.MockTransport(scripted)) as client:
            master = SparkMaster(settings, client, metrics.master_status_reads)
            await steps(master, scripted)
        sent = metrics.registry.get_sample_value("spark_api_master_status_reads_total")
        assert sent == scripted.requests      # the metric counts what the master was sent
    asyncio.run(main())


def test_concurrent_readers_share_one_master_read() -> None:
    async def steps(master, scripted):
        scripted.release.clear()
        readers = [asyncio.create_task(master.status(DRIVER)) for _ in range(16)]
        await asyncio.sleep(0.05)       # every reader is waiting on the one read in flight
        assert scripted.requests == 1
        readers[0].cancel()             # a reader that goes away does not cancel it for others
        scripted.release.set()
        done = await asyncio.gather(*readers[1:])
        assert {s.state for s in done} == {"RUNNING"} and scripted.requests == 1

    _master_run(steps, ttl=0)


def test_a_running_state_is_kept_for_the_ttl_only_and_a_terminal_one_for_good() -> None:
    async def kept(master, scripted):
        for _ in range(5):
            await master.status(DRIVER)
        assert scripted.requests == 1          # TTL 10 s: one read serves the rest

    async def not_kept(master, scripted):
        for _ in range(3):
            await master.status(DRIVER)
        assert scripted.requests == 3          # TTL 0: only readers of the same moment share
        scripted.state = "FINISHED"
        for _ in range(3):
            assert (await master.status(DRIVER)).state == "FINISHED"
        assert scripted.requests == 4          # final: kept for good, even with TTL 0

    _master_run(kept, ttl=10)
    _master_run(not_kept, ttl=0)


def test_a_failed_read_is_not_kept_and_fresh_or_kill_bypass_the_table() -> None:
    async def steps(master, scripted):
        scripted.fail_next = True
        with pytest.raises(SparkUnavailable):
            await master.status(DRIVER)
        assert (await master.status(DRIVER)).state == "RUNNING" and scripted.requests == 2
        assert (await master.status(DRIVER, fresh=True)).state == "RUNNING"
        assert scripted.requests == 3
        await master.kill(DRIVER)              # forgets the entry: the next read asks again
        assert (await master.status(DRIVER)).state == "KILLED"
        assert scripted.requests == 4

    _master_run(steps, ttl=10)


def test_an_ageing_state_is_answered_at_once_while_one_read_refreshes_it(monkeypatch) -> None:
    from spark_api import spark

    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(spark, "time", SimpleNamespace(monotonic=lambda: clock.now))

    async def steps(master, scripted):
        await master.status(DRIVER)
        clock.now += 1.5                       # past the TTL (1 s), within 2 x TTL
        scripted.release.clear()               # the master now keeps everyone waiting
        scripted.state = "FINISHED"
        readers = [asyncio.create_task(master.status(DRIVER)) for _ in range(8)]
        await asyncio.sleep(0.05)
        assert all(r.done() for r in readers)  # answered from the table, nobody waited
        assert {r.result().state for r in readers} == {"RUNNING"}
        assert scripted.requests == 2          # and ONE refresh went out for all of them
        scripted.release.set()
        await asyncio.sleep(0.05)
        clock.now += 100                       # the refresh was final: kept for good
        assert (await master.status(DRIVER)).state == "FINISHED" and scripted.requests == 2

    async def expired(master, scripted):
        await master.status(DRIVER)
        clock.now += 2.5                       # past 2 x TTL: the reader waits for a read
        scripted.release.clear()
        reader = asyncio.create_task(master.status(DRIVER))
        await asyncio.sleep(0.05)
        assert not reader.done() and scripted.requests == 2
        scripted.release.set()
        assert (await reader).state == "RUNNING"

    _master_run(steps, ttl=1)
    _master_run(expired, ttl=1)


@pytest.mark.parametrize("value", ["-1", "11", "soon"])
def test_status_cache_seconds_is_validated(value: str) -> None:
    with pytest.raises(ValidationError, match="status_cache_seconds"):
        Settings(master_url="spark://127.0.0.1:7077", auth_mode="disabled",
                 status_cache_seconds=value)


# --- worker processes ------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0", "33", "two"])
def test_workers_is_validated_before_anything_starts(value: str) -> None:
    with pytest.raises(ValidationError, match="workers"):
        Settings(master_url="spark://127.0.0.1:7077", auth_mode="disabled", workers=value)
    from .helpers import API_DIR
    result = subprocess.run([sys.executable, "-m", "spark_api"], capture_output=True, text=True,
                            timeout=60, check=False, cwd=API_DIR,
                            env={"PATH": "/usr/bin:/bin", "SPARK_API_WORKERS": value,
                                 "SPARK_API_MASTER_URL": "spark://127.0.0.1:7077",
                                 "SPARK_API_AUTH_MODE": "disabled"})
    assert result.returncode == 2
    assert "invalid configuration: workers" in result.stderr


def test_two_workers_serve_and_their_metrics_are_summed(api_factory) -> None:
    api = api_factory({"SPARK_API_MASTER_URL": dead_master_url(),
                       "SPARK_API_AUTH_MODE": "disabled", "SPARK_API_WORKERS": "2"})
    children = [" ".join(c.cmdline()) for c in psutil.Process(api.process.pid).children()]
    assert len([c for c in children if "spawn_main" in c]) == 2, children
    before = _count(api, "/healthz")
    with httpx.Client(base_url=api.url, timeout=10) as client:
        # New connections: the kernel spreads them over both workers' accept queues.
        answers = [httpx.get(api.url + "/healthz", timeout=10) for _ in range(40)]
        assert client.get("/v1/jobs/x").status_code == 404   # the app, not only /healthz
    assert {a.status_code for a in answers} == {200}
    assert _count(api, "/healthz") == before + 40   # one /metrics for all the workers


def _count(api, route: str) -> float:
    text = httpx.get(api.metrics_url, timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("spark_api_requests_total{")
               and f'route="{route}"' in line and 'status="200"' in line)


# --- against the real master ------------------------------------------------------------------
@pytest.mark.spark
@pytest.mark.slow
def test_reading_a_finished_job_costs_the_master_one_read(api_factory, oauth, spark_cluster,
                                                          token) -> None:
    api = api_factory(oidc_env(oauth.issuer, spark_cluster.master_url))
    with httpx.Client(base_url=api.url, headers=bearer(token("alice")), timeout=30) as client:
        job = client.post("/v1/jobs", json={"job": "pi", "args": {"samples": 100}}).json()
        deadline, state = time.monotonic() + 180, None
        while state not in ("FINISHED", "FAILED", "ERROR") and time.monotonic() < deadline:
            state = client.get(f"/v1/jobs/{job['id']}").json()["state"]
            time.sleep(0.3)
        assert state == "FINISHED", job

        def reads() -> float:
            text = httpx.get(api.metrics_url, timeout=10).text
            return sum(float(line.split()[-1]) for line in text.splitlines()
                       if line.startswith("spark_api_master_status_reads_total "))

        before = reads()
        answers = [client.get(f"/v1/jobs/{job['id']}") for _ in range(20)]
        assert {a.status_code for a in answers} == {200}
        assert {a.json()["state"] for a in answers} == {"FINISHED"}
        assert reads() == before     # a final state is kept: the master is not asked again
        assert json.loads(answers[-1].text)["links"]["self"].endswith(job["id"])
