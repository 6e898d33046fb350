"""MockOAuthServer: configuration in the constructor, start() -> running, stop() cleans up.

Runs uvicorn in a background thread of the calling process (tests, the simulator); the CLI
(``python -m simulator.oauth``) runs the same app in the foreground.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn

from .app import OAuthSettings, build_app
from .config import ClientConfig, parse_clients
from .keys import KeyRing


@dataclass(frozen=True)
class RunningOAuth:
    issuer: str
    token_url: str
    jwks_url: str
    host: str
    port: int


class MockOAuthServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 clients: Mapping[str, Any] | list | None = None,
                 audience: str = "spark-api", token_lifetime: int = 300,
                 rotation_grace: float | None = None, enable_test_mint: bool = False,
                 issuer: str | None = None, tls: tuple[str, str] | None = None,
                 discovery_token: str | None = None, jwks_uri: str | None = None) -> None:
        """``tls``: (certfile, keyfile) to serve https; ``discovery_token``: require it as a
        bearer token on discovery and JWKS; ``jwks_uri``: name another JWKS URL in discovery
        (the last two mimic the Kubernetes API server as a ServiceAccount token issuer)."""
        self.host, self.port = host, port
        self.clients: dict[str, ClientConfig] = parse_clients(clients or {})
        self.audience, self.token_lifetime = audience, token_lifetime
        self.rotation_grace, self.enable_test_mint = rotation_grace, enable_test_mint
        self._issuer_override = issuer
        self.tls, self.jwks_uri = tls, jwks_uri
        self._discovery_token = discovery_token
        self._settings: OAuthSettings | None = None
        self.keys = KeyRing()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.running: RunningOAuth | None = None

    def app(self, issuer: str):
        self._settings = OAuthSettings(issuer=issuer, audience=self.audience,
                                       clients=self.clients, token_lifetime=self.token_lifetime,
                                       rotation_grace=self.rotation_grace,
                                       enable_test_mint=self.enable_test_mint,
                                       discovery_token=self._discovery_token,
                                       jwks_uri=self.jwks_uri)
        return build_app(self._settings, self.keys)

    def set_discovery_token(self, token: str | None) -> None:
        """Accept another discovery token from now on (as after the kubelet rotated it)."""
        self._discovery_token = token
        if self._settings is not None:
            self._settings.discovery_token = token

    def start(self, timeout: float = 20.0) -> RunningOAuth:
        import socket

        port = self.port
        if port == 0:  # pick a free port now: the issuer URL must be known before serving
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                port = probe.getsockname()[1]
        scheme = "https" if self.tls else "http"
        issuer = self._issuer_override or f"{scheme}://{self.host}:{port}"
        tls = {"ssl_certfile": self.tls[0], "ssl_keyfile": self.tls[1]} if self.tls else {}
        config = uvicorn.Config(self.app(issuer), host=self.host, port=port,
                                log_level="warning", access_log=False, lifespan="off", **tls)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="mock-oauth", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mock OAuth server did not start on {self.host}:{port} "
                                   f"within {timeout:.0f} s (port taken? see the log above)")
            time.sleep(0.02)
        base = issuer.rstrip("/")
        self.running = RunningOAuth(issuer=issuer, token_url=f"{base}/token",
                                    jwks_url=f"{base}/jwks", host=self.host, port=port)
        return self.running

    def rotate_keys(self, grace_seconds: float | None = None) -> str:
        grace = grace_seconds if grace_seconds is not None else (
            self.rotation_grace if self.rotation_grace is not None else self.token_lifetime)
        return self.keys.rotate(grace)[0]

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread, self.running = None, None, None

    def __enter__(self) -> RunningOAuth:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
