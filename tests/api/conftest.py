"""Fixtures for the job API tests: the real mock OAuth server and the API as real processes."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

import pytest

from simulator.oauth import MockOAuthServer, RunningOAuth

from .helpers import (API_DIR, CLIENTS, ApiProcess, dead_master_url, fetch_token, free_loopback,
                      oidc_env)

# pyproject's package-dir maps spark_api, but its `packages` find only includes simulator*, so an
# editable install does not expose spark_api yet: unit tests import it from its folder.
if str(API_DIR) not in sys.path:
    sys.path.insert(0, str(API_DIR))


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[MockOAuthServer]:
    ip, _ = free_loopback()
    server = MockOAuthServer(ip, 0, CLIENTS, audience="spark-api", token_lifetime=300,
                             enable_test_mint=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def oauth(oauth_server: MockOAuthServer) -> RunningOAuth:
    assert oauth_server.running is not None
    return oauth_server.running


@pytest.fixture(scope="session")
def token(oauth_server: MockOAuthServer, oauth: RunningOAuth) -> Callable[..., str]:
    """token("alice") or token("alice", "jobs:read"): a real access token from POST /token,
    reused while it has a minute or more to live (a session outlasts the 300 s tokens on a
    loaded machine: 401 "token expired" in later tests otherwise)."""
    cache: dict[tuple[str, str | None], tuple[str, float]] = {}
    keep = max(oauth_server.token_lifetime - 60, 0)

    def get(client: str, scope: str | None = None) -> str:
        got = cache.get((client, scope))
        if got is None or time.monotonic() - got[1] >= keep:
            got = fetch_token(oauth.token_url, client, scope), time.monotonic()
            cache[(client, scope)] = got
        return got[0]

    return get


@pytest.fixture(scope="session")
def api_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ApiProcess]]:
    """Start API processes; all are stopped at the end of the session (and on failure)."""
    started: list[ApiProcess] = []
    base = tmp_path_factory.mktemp("api")

    def start(env: dict[str, str]) -> ApiProcess:
        api = ApiProcess(env=env, log_path=base / f"api-{len(started)}.log")
        started.append(api)
        return api.start()

    try:
        yield start
    finally:
        for api in started:
            api.stop()


@pytest.fixture(scope="session")
def api_nospark(api_factory: Callable[..., ApiProcess], oauth: RunningOAuth) -> ApiProcess:
    """The API in oidc mode pointed at a master address where nothing listens."""
    return api_factory(oidc_env(oauth.issuer, dead_master_url()))
