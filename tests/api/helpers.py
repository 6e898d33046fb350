"""Real processes for the API tests: the job API as `python -m spark_api` on a random loopback IP
(``simulator.local.JobApi``), tokens from the real mock OAuth server over HTTP. Everything
started here is stopped by process group.
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from simulator.local import JobApi, SparkCluster, free_loopback
from simulator.local.api import API_DIR
from simulator.local.spark import JOBS_DIR
from spark_stack_client import Client, client_credentials_token

REPO = Path(__file__).resolve().parents[2]
OWNER_SECRET = "test-owner-secret-" + "0123456789abcdef"

CLIENTS = {
    "alice": {"secret": "alice-secret-value", "scopes": ["jobs:read", "jobs:submit"]},
    "bob": {"secret": "bob-secret-value", "scopes": ["jobs:read", "jobs:submit"]},
    "reader": {"secret": "reader-secret-value", "scopes": ["jobs:read"]},
    "root": {"secret": "root-secret-value", "scopes": ["jobs:read", "jobs:submit", "jobs:admin"]},
}
__all__ = ["API_DIR", "CLIENTS", "JOBS_DIR", "OWNER_SECRET", "ApiProcess", "bearer",
           "dead_master_url", "fetch_token", "free_loopback", "job_client", "oidc_env",
           "own_cluster"]


def dead_master_url() -> str:
    """A spark:// URL where nothing listens (validation and auth tests need no JVM)."""
    ip, _ = free_loopback()
    return f"spark://{ip}:7077"


class ApiProcess(JobApi):
    """The tests' name for ``simulator.local.JobApi`` (``ApiProcess(env=..., log_path=...)``),
    with its metrics on a free port of the same address (``metrics_url``)."""

    def __init__(self, env: dict[str, str], log_path: Path, host: str = "", port: int = 0
                 ) -> None:
        if not host:
            host, port = free_loopback()
        if "SPARK_API_METRICS_PORT" not in env:
            with socket.socket() as sock:
                sock.bind((host, 0))
                env = {"SPARK_API_METRICS_PORT": str(sock.getsockname()[1]), **env}
        self.metrics_port = int(env["SPARK_API_METRICS_PORT"])
        super().__init__(env, ip=host, port=port or None, log_path=log_path)

    @property
    def metrics_url(self) -> str:
        """Prometheus metrics: a port of their own (SPARK_API_METRICS_PORT), same address."""
        return f"http://{self.ip}:{self.metrics_port}/metrics"

    @property
    def host(self) -> str:
        return self.ip


def oidc_env(issuer: str, master_url: str, **extra: str) -> dict[str, str]:
    env = {"SPARK_API_MASTER_URL": master_url, "SPARK_API_AUTH_MODE": "oidc",
           "SPARK_API_OIDC_ISSUER": issuer, "SPARK_API_OIDC_AUDIENCE": "spark-api",
           "SPARK_API_OWNER_SECRET": OWNER_SECRET}
    env.update(extra)
    return env


def fetch_token(token_url: str, client: str, scope: str | None = None) -> str:
    """A fresh access token of one of CLIENTS (for ``scope``, else all of its scopes), by the
    client's grant: for tests that send it by hand (raw requests, tampered copies)."""
    return client_credentials_token(token_url, client, CLIENTS[client]["secret"], scope)


def job_client(api_url: str, token_url: str, client: str, **kw: Any) -> Client:
    """The job API client for one of CLIENTS (client credentials; tokens renewed by authlib)."""
    return Client(api_url, token_url=token_url, client_id=client,
                  client_secret=CLIENTS[client]["secret"], **kw)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def own_cluster(tmp_path_factory, name: str, worker_memory: str,
                workers: int = 1) -> SparkCluster:
    """A master + 1-core workers of this module's own (not the shared session cluster);
    use as ``with own_cluster(...) as cluster`` (started on enter, stopped by process group)."""
    return SparkCluster(tmp_path_factory.mktemp(name), workers=workers,
                        worker_memory=worker_memory)

