"""Clients of the mock server: id, secret and the scopes each may ask for."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ClientConfig:
    client_id: str
    secret: str = field(repr=False)  # never in logs or reprs
    scopes: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, client_id: str, raw: Mapping[str, Any]) -> "ClientConfig":
        secret = raw.get("secret") or raw.get("client_secret")
        if not isinstance(secret, str) or not secret:
            raise ValueError(f"client {client_id!r}: 'secret' must be a non-empty string")
        scopes = raw.get("scopes", [])
        if isinstance(scopes, str):
            scopes = scopes.split()
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError(f"client {client_id!r}: 'scopes' must be a list of strings")
        return cls(client_id, secret, frozenset(scopes))


def parse_clients(raw: Any) -> dict[str, ClientConfig]:
    """Accept {"clients": {id: {secret, scopes}}}, {id: {...}} or [{"client_id", ...}]."""
    if isinstance(raw, dict) and "clients" in raw:
        raw = raw["clients"]
    if isinstance(raw, list):
        raw = {item["client_id"]: item for item in raw}
    if not isinstance(raw, dict):
        raise ValueError("clients: expected a mapping of client id -> {secret, scopes}")
    clients = {}
    for client_id, value in raw.items():
        clients[client_id] = value if isinstance(value, ClientConfig) \
            else ClientConfig.parse(client_id, value)
    return clients


def load_clients(path: str | Path) -> dict[str, ClientConfig]:
    return parse_clients(json.loads(Path(path).read_text()))
