"""The mock OAuth server as a local process: ``python -m simulator.oauth``.

The clients (ids, secrets, scopes) go to a file of mode 0600 next to the log, never on the
command line or in the log. Ready when the OIDC discovery document answers 200.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulator.local.base import LocalComponent, host_env, http_get
from simulator.run import REPO


class MockOAuthProcess(LocalComponent):
    """``clients``: ``{id: {"secret": ..., "scopes": [...] or "a b"}}``."""

    hint = "is the address or port taken? The clients file must be valid JSON (see the log)"

    def __init__(self, ip: str, port: int, clients: Mapping[str, Mapping[str, Any]],
                 audience: str, log_path: Path, *, clients_file: Path | None = None,
                 issuer: str | None = None, token_lifetime: int = 300,
                 enable_test_mint: bool = False, ready_timeout: float = 30.0,
                 name: str = "oauth") -> None:
        self.ip, self.port, self.audience = ip, port, audience
        self.clients = {cid: dict(c) for cid, c in clients.items()}
        log_path = Path(log_path)
        self.clients_file = clients_file or log_path.parent / f"{name}-clients.json"
        self._issuer = issuer
        argv = [sys.executable, "-m", "simulator.oauth", "--host", ip, "--port", str(port),
                "--clients", str(self.clients_file), "--audience", audience,
                "--token-lifetime", str(token_lifetime)]
        if issuer:
            argv += ["--issuer", issuer]
        if enable_test_mint:
            argv.append("--enable-test-mint")
        env = host_env()
        env["PYTHONPATH"] = str(REPO)
        super().__init__(name, argv, env, log_path, ready_timeout=ready_timeout)

    @property
    def issuer(self) -> str:
        return self._issuer or f"http://{self.ip}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/token"

    def before_start(self) -> None:
        self.clients_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.clients_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)   # also when the file was there before with other bits
        with os.fdopen(fd, "w") as out:
            json.dump({"clients": self.clients}, out)

    def probe(self) -> tuple[bool, str]:
        url = f"http://{self.ip}:{self.port}/.well-known/openid-configuration"
        status, _ = http_get(url)
        return status == 200, f"GET {url} -> {status}"

