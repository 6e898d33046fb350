"""RS256 signing keys with rotation: the newest signs, retired ones stay in the JWKS for a grace
period so tokens they signed keep validating until they expire."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from joserfc.jwk import KeySet, RSAKey


@dataclass
class _Entry:
    key: RSAKey
    retire_at: float | None = None  # monotonic time after which it leaves the JWKS


class KeyRing:
    def __init__(self, key_size: int = 2048) -> None:
        self.key_size = key_size
        self._lock = threading.Lock()
        self._entries: list[_Entry] = [_Entry(self._new_key())]

    def _new_key(self) -> RSAKey:
        kid = uuid.uuid4().hex[:16]
        return RSAKey.generate_key(self.key_size, private=True,
                                   parameters={"kid": kid, "use": "sig", "alg": "RS256"})

    def _prune(self) -> None:
        now = time.monotonic()
        self._entries = [e for e in self._entries if e.retire_at is None or e.retire_at > now]

    @property
    def current(self) -> RSAKey:
        with self._lock:
            return self._entries[-1].key

    def rotate(self, grace_seconds: float) -> tuple[str, list[str]]:
        """New signing key; the previous ones stay published for ``grace_seconds`` (0: dropped)."""
        with self._lock:
            now = time.monotonic()
            for entry in self._entries:
                if entry.retire_at is None or entry.retire_at > now + grace_seconds:
                    entry.retire_at = now + grace_seconds
            self._entries.append(_Entry(self._new_key()))
            self._prune()
            return self._entries[-1].key.kid or "", [e.key.kid or "" for e in self._entries]

    def jwks(self) -> dict:
        with self._lock:
            self._prune()
            return KeySet([e.key for e in self._entries]).as_dict(private=False)
