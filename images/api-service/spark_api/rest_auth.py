"""What the API shows the Spark master: a signed token on REST calls, spark.authenticate on jobs.

The master's REST gateway (6066) runs ``org.apache.spark.ui.JWSFilter`` when the chart turns it
on (images/spark-job/entrypoint.sh, ``SPARK_REST_JWS_KEY_FILE``): a request passes only with
``Authorization: Bearer <JWS>``, HS256 over a key both sides read from the same Secret, with an
``exp`` in the future. The file holds the key base64url-encoded, as the filter's ``secretKey``
parameter takes it (it decodes with jjwt's ``Decoders.BASE64URL``), so this module decodes it the
same way and signs a fresh token, valid ``TOKEN_LIFETIME`` seconds, for every call: nothing to
renew, and a leaked token is worth a minute. Only calls to the REST gateway carry it, never the
master UI or the workers' log pages (a token sent where it is not needed can only leak).

With ``SPARK_API_SPARK_AUTHENTICATE=true`` (the cluster's RPC needs the shared secret) every
submission asks for ``spark.authenticate=true``. The secret itself never travels in a
submission: the worker that launches the driver hands it over in the driver's environment
(docs/security.md).
"""
from __future__ import annotations

import base64
import binascii
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey

if TYPE_CHECKING:  # settings.py validates the key file with load_key below
    from .settings import Settings

TOKEN_LIFETIME = 60  # seconds; tolerates that much clock skew between the API and the master
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
MIN_KEY_CHARS = 43  # 43 base64url characters carry 256 bits, HS256's minimum (RFC 7518 3.2)


def load_key(path: Path, setting: str = "SPARK_API_REST_JWS_KEY_FILE") -> bytes:
    """The HMAC key in ``path`` (base64url text, as the master's filter reads it), or ValueError
    naming the setting and the fix."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"{setting}={str(path)!r} cannot be read ({exc.strerror}): mount the "
                         "REST signing key Secret there or unset it") from None
    if (not _BASE64URL.match(text) or len(text) < MIN_KEY_CHARS or len(text) % 4 == 1):
        raise ValueError(f"{setting}={str(path)!r} must hold a base64url key of at least "
                         f"{MIN_KEY_CHARS} characters (A-Z a-z 0-9 - _, no padding), the same "
                         "file the master reads (SPARK_REST_JWS_KEY_FILE)")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the pattern above rules it out
        raise ValueError(f"{setting}={str(path)!r} is not base64url") from None


class RestAuth:
    """Signs REST gateway calls and adds the cluster's auth properties to submissions."""

    def __init__(self, rest_base: str, key: bytes | None, spark_authenticate: bool,
                 lifetime: int = TOKEN_LIFETIME) -> None:
        self.rest_base = rest_base.rstrip("/") + "/"
        self._key = OctKey.import_key(key) if key is not None else None
        self.spark_authenticate = spark_authenticate
        self.lifetime = lifetime

    @classmethod
    def from_settings(cls, settings: Settings) -> RestAuth:
        key_file = settings.rest_jws_key_file
        return cls(settings.master_rest_base, load_key(key_file) if key_file else None,
                   settings.spark_authenticate)

    def token(self) -> str:
        if self._key is None:
            raise RuntimeError("no REST signing key configured")
        now = int(time.time())
        return jwt.encode({"alg": "HS256", "typ": "JWT"},
                          {"iss": "spark-api", "iat": now, "exp": now + self.lifetime}, self._key)

    def _is_rest(self, url: str) -> bool:
        return url.startswith(self.rest_base)

    def sign(self, url: str, kwargs: dict) -> dict:
        """``kwargs`` for ``httpx.AsyncClient.request`` with the token added for REST calls."""
        if self._key is None or not self._is_rest(url):
            return kwargs
        headers = dict(kwargs.get("headers") or {})
        headers["Authorization"] = f"Bearer {self.token()}"
        return {**kwargs, "headers": headers}

    def refused(self, url: str, response: httpx.Response) -> str | None:
        """Why the gateway refused the API (HTTP 403 from the filter), or None."""
        if response.status_code != 403 or not self._is_rest(url):
            return None
        if self._key is None:
            return ("the master's REST gateway demands a signed token (HTTP 403): set "
                    "SPARK_API_REST_JWS_KEY_FILE to the key the master has")
        return ("the master's REST gateway refused the API's signed token (HTTP 403): "
                "SPARK_API_REST_JWS_KEY_FILE must hold the master's key (SPARK_REST_JWS_KEY_FILE) "
                "and both clocks must agree within a minute")

    @property
    def submission_properties(self) -> dict[str, str]:
        """sparkProperties every submission carries (never a secret)."""
        return {"spark.authenticate": "true"} if self.spark_authenticate else {}
