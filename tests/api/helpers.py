"""Real processes for the API tests: the job API as `python -m spark_api` on a random loopback IP,
tokens from the real mock OAuth server over HTTP. Everything started here is stopped by PID group.
"""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
API_DIR = REPO / "images" / "api-service"
JOBS_DIR = REPO / "images" / "spark-job" / "jobs"
OWNER_SECRET = "test-owner-secret-" + "0123456789abcdef"

CLIENTS = {
    "alice": {"secret": "alice-secret-value", "scopes": ["jobs:read", "jobs:submit"]},
    "bob": {"secret": "bob-secret-value", "scopes": ["jobs:read", "jobs:submit"]},
    "reader": {"secret": "reader-secret-value", "scopes": ["jobs:read"]},
    "root": {"secret": "root-secret-value", "scopes": ["jobs:read", "jobs:submit", "jobs:admin"]},
}


def free_loopback(port: int | None = None) -> tuple[str, int]:
    """A random 127.x.y.z (x, y in 10..250) and a port that is free on it."""
    for _ in range(100):
        ip = f"127.{random.randint(10, 250)}.{random.randint(10, 250)}.{random.randint(2, 250)}"
        with socket.socket() as sock:
            try:
                sock.bind((ip, port or 0))
            except OSError:
                continue
            return ip, sock.getsockname()[1]
    raise RuntimeError("no free loopback address found")


def dead_master_url() -> str:
    """A spark:// URL where nothing listens (validation and auth tests need no JVM)."""
    ip, _ = free_loopback()
    return f"spark://{ip}:7077"


@dataclass
class ApiProcess:
    """`python -m spark_api` as a real uvicorn process; configuration in, base URL out."""

    env: dict[str, str]
    log_path: Path
    host: str = ""
    port: int = 0
    metrics_port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def metrics_url(self) -> str:
        """Prometheus metrics: a port of their own (SPARK_API_METRICS_PORT), same address."""
        return f"http://{self.host}:{self.metrics_port}/metrics"

    def start(self, timeout: float = 30.0) -> "ApiProcess":
        self.host, self.port = free_loopback()
        with socket.socket() as sock:
            sock.bind((self.host, 0))
            self.metrics_port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_API_")}
        env.update({"PYTHONPATH": os.pathsep.join([str(API_DIR), str(REPO)]),
                    "SPARK_API_HOST": self.host, "SPARK_API_PORT": str(self.port),
                    "SPARK_API_METRICS_PORT": str(self.metrics_port),
                    "SPARK_API_JOBS_DIR": str(JOBS_DIR)})
        env.update(self.env)
        print(f"[api] starting python -m spark_api on {self.url} (log {self.log_path})", flush=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "spark_api"], env=env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"spark_api exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"spark_api not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


def oidc_env(issuer: str, master_url: str, **extra: str) -> dict[str, str]:
    env = {"SPARK_API_MASTER_URL": master_url, "SPARK_API_AUTH_MODE": "oidc",
           "SPARK_API_OIDC_ISSUER": issuer, "SPARK_API_OIDC_AUDIENCE": "spark-api",
           "SPARK_API_OWNER_SECRET": OWNER_SECRET}
    env.update(extra)
    return env


def fetch_token(token_url: str, client: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = httpx.post(token_url, data=data, auth=(client, CLIENTS[client]["secret"]))
    response.raise_for_status()
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def own_cluster(tmp_path_factory, name: str, worker_memory: str, workers: int = 1):
    """A master + 1-core workers of this module's own (not the shared session cluster);
    use as ``with own_cluster(...) as cluster`` (started on enter, stopped by process group)."""
    from spark.cluster import ClusterConfig, LocalSparkCluster

    return LocalSparkCluster(ClusterConfig(base_dir=tmp_path_factory.mktemp(name),
                                           workers=workers, worker_memory=worker_memory))

