"""Fixtures for the client tests: the real mock OAuth server (short token lifetime), the API as
real processes (one at a dead master for the error paths, one at the session Spark cluster)."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from api.conftest import api_factory  # noqa: F401  (the API processes, stopped at the end)
from api.helpers import CLIENTS, ApiProcess, dead_master_url, free_loopback, job_client, oidc_env

from simulator.oauth import MockOAuthServer, RunningOAuth
from spark_stack_client import Client, RetryPolicy

# Tokens live this long: long enough for a few calls, short enough to expire inside a test.
TOKEN_LIFETIME = 6


@pytest.fixture(scope="session")
def short_oauth() -> Iterator[RunningOAuth]:
    """The mock OAuth server handing out tokens of TOKEN_LIFETIME seconds."""
    ip, _ = free_loopback()
    server = MockOAuthServer(ip, 0, CLIENTS, audience="spark-api", token_lifetime=TOKEN_LIFETIME)
    server.start()
    try:
        assert server.running is not None
        yield server.running
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dead_api(api_factory, short_oauth: RunningOAuth) -> ApiProcess:  # noqa: F811
    """The API pointed at a master where nothing listens: every Spark call is a 503."""
    return api_factory(oidc_env(short_oauth.issuer, dead_master_url()))


@pytest.fixture(scope="session")
def live_api(api_factory, short_oauth: RunningOAuth, spark_cluster) -> ApiProcess:  # noqa: F811
    return api_factory(oidc_env(short_oauth.issuer, spark_cluster.master_url))


def make_client(api: ApiProcess, oauth: RunningOAuth, caller: str = "alice", **kw) -> Client:
    return job_client(api.url, oauth.token_url, caller, leeway=1,
                      retry=kw.pop("retry", RetryPolicy(attempts=2, max_total=10)), **kw)


def cli_env(api: ApiProcess, oauth: RunningOAuth, caller: str, tmp_path: Path) -> dict[str, str]:
    """The environment the `spark-stack` CLI reads; the secret goes through a file."""
    secret = tmp_path / f"{caller}.secret"
    secret.write_text(CLIENTS[caller]["secret"] + "\n")
    secret.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_STACK_")}
    env.update(SPARK_STACK_API=api.url, SPARK_STACK_TOKEN_URL=oauth.token_url,
               SPARK_STACK_CLIENT_ID=caller, SPARK_STACK_CLIENT_SECRET_FILE=str(secret))
    return env


def cli() -> list[str]:
    """The installed console script, next to this interpreter (as a user runs it)."""
    script = Path(sys.executable).with_name("spark-stack")
    if not script.exists():
        pytest.skip(f"console script not installed at {script}: reinstall the project")
    return [str(script)]
