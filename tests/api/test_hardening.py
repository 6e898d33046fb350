"""Issue 9's API findings, each refused or bounded, against the real API process and real tokens.

- a slow or failing issuer never delays callers whose key is cached, and random-kid tokens cost
  the issuer one shared, rate-limited refresh (counted at a real JWKS server, not timed);
- no request can add a metrics series (1000 made-up methods and paths);
- a job id with a trailing newline is a 404, never a 500;
- oversized tokens, tokens from the future and over-long-lived tokens are 401;
- 401/503 bodies and /readyz say what is wrong without internal URLs or library messages.
"""
from __future__ import annotations

import random
import re
import string
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from simulator.oauth import MockOAuthServer

from .helpers import CLIENTS, ApiProcess, bearer, dead_master_url, fetch_token, free_loopback, \
    oidc_env
from .tls_servers import RecordingServer

REFRESH_INTERVAL = 3.0  # SPARK_API_OIDC_REFRESH_INTERVAL for the gated issuer


def _mint(issuer: str, **body) -> str:
    response = httpx.post(issuer + "/test/mint", json=body)
    response.raise_for_status()
    return response.json()["access_token"]


def _catalog(api: ApiProcess, token: str) -> httpx.Response:
    return httpx.get(api.url + "/v1/catalog", headers=bearer(token), timeout=60)


class JwksGate:
    """A real JWKS server in front of the mock issuer's keys that counts fetches and can be
    closed (fetches block until opened) or set to fail (HTTP 500)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.fail = False
        self.blocked = 0
        self.lock = threading.Lock()
        self.upstream = ""
        self.server = RecordingServer(free_loopback()[0], self._keys, before=self._before)

    def _keys(self) -> dict:
        return httpx.get(self.upstream).json()

    def _before(self) -> int | None:
        with self.lock:
            self.blocked += 1
        try:
            self.open.wait(timeout=30)
        finally:
            with self.lock:
                self.blocked -= 1
        return 500 if self.fail else None

    @property
    def fetches(self) -> int:
        return len(self.server.authorizations)


@pytest.fixture(scope="module")
def gated() -> Iterator[tuple[MockOAuthServer, JwksGate]]:
    gate = JwksGate()
    gate.server.start()
    ip, _ = free_loopback()
    issuer = MockOAuthServer(ip, 0, CLIENTS, audience="spark-api", enable_test_mint=True,
                             jwks_uri=gate.server.url + "/jwks")
    issuer.start()
    assert issuer.running is not None
    gate.upstream = issuer.running.jwks_url
    try:
        yield issuer, gate
    finally:
        gate.open.set()
        issuer.stop()
        gate.server.stop()


def _gated_api(api_factory, issuer: MockOAuthServer) -> ApiProcess:
    assert issuer.running is not None
    return api_factory(oidc_env(issuer.running.issuer, dead_master_url(),
                                SPARK_API_OIDC_REFRESH_INTERVAL=str(REFRESH_INTERVAL),
                                SPARK_API_OIDC_REFRESH_MAX_BACKOFF="60"))


def _wait(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not seen within {timeout:.0f} s: {what}")


def test_cached_kid_is_not_delayed_by_a_blocked_refresh(gated, api_factory) -> None:
    issuer, gate = gated
    api = _gated_api(api_factory, issuer)
    valid = fetch_token(issuer.running.token_url, "alice")
    assert _catalog(api, valid).status_code == 200
    assert gate.fetches == 1
    time.sleep(REFRESH_INTERVAL)  # setup: let the refresh interval pass so a refetch may start

    random_kid = [_mint(issuer.running.issuer, sub="mallory", scope="jobs:read",
                        header={"kid": f"random-{n}"}) for n in range(20)]
    gate.open.clear()
    gate.fail = True
    with ThreadPoolExecutor(max_workers=20) as pool:
        pending = [pool.submit(_catalog, api, token) for token in random_kid]
        _wait(lambda: gate.blocked >= 1, "the API's JWKS refetch reaching the closed gate")
        # The refresh is blocked at the issuer: a caller with a cached kid still gets through.
        assert _catalog(api, valid).status_code == 200
        assert gate.blocked == 1 and not gate.open.is_set()
        time.sleep(1.0)  # setup: let every random-kid request reach the API
        # Twenty unknown kids, one refresh: they joined the one in flight.
        assert gate.fetches == 2
        gate.open.set()
        statuses = [future.result().status_code for future in pending]
    assert set(statuses) == {401}, statuses

    # After the failed refresh, unknown kids are refused without asking the issuer each time.
    began, before = time.monotonic(), gate.fetches
    for token in random_kid * 3:
        response = _catalog(api, token)
        assert response.status_code == 401
        assert "invalid_token" in response.headers["www-authenticate"]
    elapsed = time.monotonic() - began
    # Backoff after a failure is at least the interval: at most one refetch per interval.
    assert gate.fetches - before <= 1 + elapsed / REFRESH_INTERVAL, (gate.fetches, elapsed)
    assert _catalog(api, valid).status_code == 200
    gate.fail = False


def test_issuer_failing_from_the_start_is_503_with_backoff(gated, api_factory) -> None:
    issuer, gate = gated
    gate.fail = True
    try:
        api = _gated_api(api_factory, issuer)
        valid = fetch_token(issuer.running.token_url, "alice")
        before, began = gate.fetches, time.monotonic()
        for _ in range(30):
            response = _catalog(api, valid)
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1
            body = response.json()["error"]
            assert body["code"] == "issuer_unavailable"
            assert "http" not in body["message"] and gate.server.url not in response.text
        elapsed = time.monotonic() - began
        assert gate.fetches - before <= 1 + elapsed / REFRESH_INTERVAL, (gate.fetches, elapsed)
        assert "OIDC key refresh failed" in api.log_tail(200)
    finally:
        gate.fail = False


def _series(api: ApiProcess) -> set[str]:
    text = httpx.get(api.metrics_url).text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines()
            if line.startswith("spark_api_request")}


def test_made_up_methods_and_paths_add_no_metrics_series(api_nospark, token) -> None:
    webdav = ["PROPFIND", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "PURGE",
              "REPORT", "MKACTIVITY", "CHECKOUT", "MERGE", "NOTIFY", "SUBSCRIBE", "LINK"]
    rng = random.Random(4711)

    def made_up(n: int) -> Iterator[tuple[str, str]]:
        for i in range(n):
            method = webdav[i % len(webdav)] if i % 2 else \
                "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
            path = rng.choice(["/v1/jobs", "/v1/catalog", "/healthz"]) if i % 3 else \
                "/" + "".join(rng.choices(string.ascii_lowercase, k=10))
            yield method, path

    with httpx.Client(base_url=api_nospark.url, headers=bearer(token("alice"))) as client:
        for method, path in made_up(50):  # every kind of label once
            client.request(method, path)
        before = _series(api_nospark)
        for method, path in made_up(1000):
            client.request(method, path)
    after = _series(api_nospark)
    assert after == before, sorted(after - before)[:10]
    methods = {m for line in after for m in re.findall(r'method="([^"]*)"', line)}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
    assert "OTHER" in methods


@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%0A/logs"])
def test_trailing_newline_in_a_job_id_is_404(api_nospark, token, suffix: str) -> None:
    job_id = "driver-20260101000000-0000.pi.AAAAAAAAAAAAAAAAAAAAAA"
    with httpx.Client(base_url=api_nospark.url, headers=bearer(token("root"))) as client:
        for method in ("GET", "DELETE"):
            response = client.request(method, f"/v1/jobs/{job_id}{suffix}")
            assert response.status_code in (404, 405), response.text
        response = client.get(f"/v1/jobs/{job_id}{suffix}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_oversized_token_is_401_before_parsing(api_nospark) -> None:
    huge = "a" * 9000  # over the 8192-byte default (SPARK_API_MAX_TOKEN_BYTES)
    response = httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(huge))
    assert response.status_code == 401
    assert "8192 bytes" in response.json()["error"]["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("case,body", [
    ("iat-in-the-future", {"claims": {"iat": int(time.time()) + 3600}}),
    ("lifetime-over-a-day", {"claims": {"exp": int(time.time()) + 2 * 86400}}),
    ("far-exp-without-iat", {"claims": {"exp": int(time.time()) + 2 * 86400},
                             "remove": ["iat"]}),
    ("iat-not-numeric", {"claims": {"iat": "yesterday"}}),
])
def test_token_lifetime_and_iat(api_nospark, oauth, case: str, body: dict) -> None:
    token = _mint(oauth.issuer, sub="alice", scope="jobs:read", **body)
    response = httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_token_within_the_limits_is_accepted(api_nospark, oauth) -> None:
    now = int(time.time())
    token = _mint(oauth.issuer, sub="alice", scope="jobs:read",
                  claims={"iat": now + 10, "exp": now + 86000})  # small clock skew is fine
    assert httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(token)).status_code == 200


def test_errors_carry_no_internal_urls_or_library_messages(api_nospark, token) -> None:
    malformed = httpx.get(api_nospark.url + "/v1/catalog", headers=bearer("a.b.c"))
    assert malformed.status_code == 401
    assert malformed.json()["error"]["message"] == "malformed token"
    master_ip = api_nospark.env["SPARK_API_MASTER_URL"].split("//")[1].split(":")[0]
    for response in (httpx.get(api_nospark.url + "/readyz"),
                     httpx.get(api_nospark.url + "/v1/jobs", headers=bearer(token("alice")))):
        assert response.status_code == 503
        assert master_ip not in response.text and "http" not in response.text
        assert "Error" not in response.text  # no exception names (ConnectError...)
        assert "master" in response.json()["error"]["message"]
    assert master_ip in api_nospark.log_tail(200)  # the detail is in the log


def test_metrics_port_taken_does_not_stop_the_api(api_factory) -> None:
    import socket

    from .helpers import OWNER_SECRET

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api = api_factory({"SPARK_API_MASTER_URL": dead_master_url(),
                           "SPARK_API_AUTH_MODE": "openshift-proxy",
                           "SPARK_API_OWNER_SECRET": OWNER_SECRET,
                           "SPARK_API_METRICS_HOST": "127.0.0.1",
                           "SPARK_API_METRICS_PORT": str(taken.getsockname()[1])})
        assert httpx.get(api.url + "/healthz").status_code == 200
        assert "cannot serve metrics" in api.log_tail(100)
