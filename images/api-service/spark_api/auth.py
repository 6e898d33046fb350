"""Who is calling: bearer JWTs (oidc), the OpenShift oauth-proxy sidecar, or nobody (disabled).

oidc: the token's signature is checked against the JWKS found by discovery on the configured
issuer (never a key or URL named by the token: ``jku``, ``jwk``, ``x5u`` are ignored), with an
algorithm allow-list (RS256, ES256), then explicit claim checks (iss, aud, exp, nbf with a small
leeway, scope). The JWKS is cached and refetched, at most once per ``refresh_interval``, when a
token names an unknown ``kid`` (key rotation at the issuer). Discovery and JWKS go through
``IssuerAccess`` (issuer_access.py: CA file, and the discovery token only to the issuer's hosts).
A token without a ``scope`` claim (a Kubernetes ServiceAccount token) gets the scopes
``SPARK_API_OIDC_SUBJECT_SCOPES`` grants its subject (subject_scopes.py), else none.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .errors import ApiError
from .issuer_access import IssuerAccess, TokenFileError
from .settings import AuthMode

log = logging.getLogger("spark_api.auth")

SCOPE_READ, SCOPE_SUBMIT, SCOPE_ADMIN = "jobs:read", "jobs:submit", "jobs:admin"
ALLOWED_ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    via: str = "oidc"

    @property
    def is_admin(self) -> bool:
        return SCOPE_ADMIN in self.scopes


def _quote(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


def unauthorized(description: str | None) -> ApiError:
    """401 with the RFC 6750 challenge; no error code when no credentials were sent at all."""
    challenge = 'Bearer realm="spark-api"'
    if description is not None:
        challenge += f', error="invalid_token", error_description="{_quote(description)}"'
    message = description or "authentication required: send Authorization: Bearer <token>"
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def forbidden_scope(scope: str) -> ApiError:
    challenge = (f'Bearer realm="spark-api", error="insufficient_scope", scope="{scope}", '
                 f'error_description="this request needs the {scope} scope"')
    return ApiError(403, "insufficient_scope", f"this request needs the {scope} scope",
                    headers={"WWW-Authenticate": challenge})


class IssuerUnavailable(Exception):
    pass


class OidcVerifier:
    """Validates bearer JWTs against one issuer's discovered JWKS."""

    def __init__(self, issuer: str, audience: str, client: httpx.AsyncClient,
                 refresh_interval: float = 5.0, access: IssuerAccess | None = None) -> None:
        self.issuer, self.audience, self.client = issuer, audience, client
        # Who may see the discovery token (issuer_access.py): none without a token file.
        self.access = access or IssuerAccess(issuer)
        self.refresh_interval = refresh_interval
        self._jwks_uri: str | None = None
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = await self._get_json(url)
        if doc.get("issuer") != self.issuer or not isinstance(doc.get("jwks_uri"), str):
            raise IssuerUnavailable(f"discovery at {url} names issuer {doc.get('issuer')!r}, "
                                    f"expected {self.issuer!r}, or has no jwks_uri")
        return doc["jwks_uri"]

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            headers = self.access.headers(url, self._jwks_uri)
        except TokenFileError as exc:
            raise IssuerUnavailable(str(exc)) from None
        try:
            response = await self.client.get(url, headers=headers, timeout=5.0)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise IssuerUnavailable(f"cannot read {url}: {exc}") from exc
        if not isinstance(data, dict):
            raise IssuerUnavailable(f"{url} did not return a JSON object")
        return data

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._keys is not None and not force:
                return
            if self._keys is not None and now - self._fetched_at < self.refresh_interval:
                return  # rate limit: an unknown kid cannot make us hammer the issuer
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover()
            data = await self._get_json(self._jwks_uri)
            try:
                keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise IssuerUnavailable(f"JWKS at {self._jwks_uri} is not valid: {exc}") from exc
            self._keys, self._fetched_at = keys, now
            log.info("loaded %d signing key(s) from %s", len(keys.keys), self._jwks_uri)

    def _lookup(self, kid: str) -> Any | None:
        if self._keys is None:
            return None
        try:
            return self._keys.get_by_kid(kid)
        except (JoseError, ValueError, KeyError):
            return None

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, TypeError, KeyError, UnicodeError) as exc:
            raise unauthorized(f"malformed token: {exc}") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS:
            raise unauthorized(f"algorithm {alg!r} is not allowed (RS256, ES256 only)")
        if not isinstance(kid, str) or not kid:
            raise unauthorized("token header has no kid")
        await self._refresh(force=False)
        key = self._lookup(kid)
        if key is None:
            await self._refresh(force=True)
            key = self._lookup(kid)
        if key is None:
            raise unauthorized(f"unknown signing key id {kid!r}")
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except (JoseError, ValueError, TypeError, KeyError, UnicodeError) as exc:
            raise unauthorized(f"invalid signature or encoding: {exc}") from None
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise unauthorized("wrong issuer")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in audiences:
            raise unauthorized("wrong audience")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise unauthorized("token has no numeric exp")
        if now > exp + LEEWAY_SECONDS:
            raise unauthorized("token expired")
        nbf = claims.get("nbf")
        if nbf is not None:
            if not isinstance(nbf, (int, float)) or isinstance(nbf, bool):
                raise unauthorized("nbf is not numeric")
            if now < nbf - LEEWAY_SECONDS:
                raise unauthorized("token not yet valid (nbf)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise unauthorized("token has no sub")
        if not isinstance(claims.get("scope", ""), str):
            raise unauthorized("scope claim is not a space-separated string")


def _bearer(request: Request) -> str:
    value = request.headers.get("authorization")
    if not value:
        raise unauthorized(None)
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("expected 'Authorization: Bearer <token>'")
    return token.strip()


def _peer_is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def get_principal(request: Request) -> Principal:
    """FastAPI dependency: authenticate the request according to the configured mode."""
    state = request.app.state
    mode: AuthMode = state.settings.auth_mode
    if mode is AuthMode.DISABLED:
        return Principal("anonymous", frozenset({SCOPE_READ, SCOPE_SUBMIT}), via="disabled")
    if mode is AuthMode.OPENSHIFT_PROXY:
        user = request.headers.get("x-forwarded-user") or request.headers.get("x-forwarded-email")
        if not _peer_is_loopback(request):
            raise unauthorized("identity headers are only trusted from the oauth-proxy sidecar")
        if not user:
            raise unauthorized("no X-Forwarded-User from the oauth-proxy")
        return Principal(user, frozenset({SCOPE_READ, SCOPE_SUBMIT}), via="openshift-proxy")
    token = _bearer(request)
    try:
        claims = await state.verifier.verify(token)
    except IssuerUnavailable as exc:
        raise ApiError(503, "issuer_unavailable",
                       f"cannot validate tokens right now, the OIDC issuer is unreachable: {exc}",
                       headers={"Retry-After": "5"}) from None
    if "scope" in claims:  # the issuer said what this token may do: never widened
        scopes = frozenset(str(claims["scope"]).split())
    else:  # e.g. a Kubernetes ServiceAccount token: scopes by subject (subject_scopes.py)
        scopes = state.subject_scopes.scopes_for(claims["sub"])
    return Principal(claims["sub"], scopes, via="oidc")


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_scope(scope: str):
    """Dependency factory: the caller must hold ``scope`` (``jobs:admin`` implies every scope)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if scope not in principal.scopes and SCOPE_ADMIN not in principal.scopes:
            raise forbidden_scope(scope)
        return principal

    return dependency


Reader = Annotated[Principal, Depends(require_scope(SCOPE_READ))]
Submitter = Annotated[Principal, Depends(require_scope(SCOPE_SUBMIT))]

__all__ = ["Principal", "CurrentPrincipal", "Reader", "Submitter", "OidcVerifier"]
