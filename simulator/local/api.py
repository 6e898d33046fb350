"""The job API as a local process: ``python -m spark_api``, the api-service image's command.

``images/api-service`` is on PYTHONPATH (the image's own layout), the job scripts are the
repository's ``images/spark-job/jobs``, settings come from ``env`` (``SPARK_API_*``,
docs/contracts.md). Ready when ``GET /healthz`` answers 200.
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from simulator.local.base import LocalComponent, host_env, http_get
from simulator.local.loopback import free_loopback
from simulator.local.spark import JOBS_DIR
from simulator.run import REPO

API_DIR = REPO / "images" / "api-service"


class JobApi(LocalComponent):
    """``python -m spark_api`` on ``ip:port`` (a random free loopback address if not given)."""

    hint = ("a settings error is named in the log above (SPARK_API_* variables); is the api "
            "extra installed (pip install 'spark-stack[api]')?")

    def __init__(self, env: Mapping[str, str], ip: str | None = None, port: int | None = None,
                 log_path: Path | None = None, *, ready_timeout: float = 30.0,
                 name: str = "api") -> None:
        if ip is None or not port:
            ip, port = free_loopback(port) if ip is None else _free_port(ip)
        self.ip, self.port = ip, port
        full = host_env()
        full.update({"PYTHONPATH": os.pathsep.join([str(API_DIR), str(REPO)]),
                     "SPARK_API_HOST": ip, "SPARK_API_PORT": str(port),
                     "SPARK_API_JOBS_DIR": str(JOBS_DIR)})
        full.update(env)
        if log_path is None:
            log_path = Path(tempfile.mkdtemp(prefix="spark-api-")) / "api.log"
        super().__init__(f"{name}@{ip}:{port}", [sys.executable, "-m", "spark_api"], full,
                         log_path, ready_timeout=ready_timeout)

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    def probe(self) -> tuple[bool, str]:
        status, _ = http_get(f"{self.url}/healthz", timeout=1.0)
        return status == 200, f"GET /healthz -> {status}"


def _free_port(ip: str) -> tuple[str, int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ip, 0))
        return ip, sock.getsockname()[1]
