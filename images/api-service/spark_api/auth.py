"""Who is calling: bearer JWTs (oidc), the OpenShift oauth-proxy sidecar, or nobody (disabled).

oidc: the token's signature is checked against the JWKS found by discovery on the configured
issuer (never a key or URL named by the token: ``jku``, ``jwk``, ``x5u`` are ignored), with an
algorithm allow-list (RS256, ES256), then explicit claim checks (iss, aud, exp, nbf, iat with a
small leeway, a maximum lifetime, scope). The Authorization header is capped in size before any
parsing (over the cap: 401, the same challenge as any bad token, so clients need handle one case).

JWKS: a token whose ``kid`` is cached is verified without waiting for anything (no lock). An
unknown ``kid`` (key rotation at the issuer) triggers ONE shared refresh: concurrent callers join
the refresh in flight instead of starting their own (single flight), refreshes start at most
once per ``refresh_interval``, and after a failed one the next waits longer (doubling, capped at
``max_backoff``). So a flood of random-kid tokens costs the issuer at most one fetch per
interval and never delays a caller whose key is cached. Discovery and JWKS go through
``IssuerAccess`` (issuer_access.py: CA file, and the discovery token only to the issuer's hosts).
A token without a ``scope`` claim (a Kubernetes ServiceAccount token) gets the scopes
``SPARK_API_OIDC_SUBJECT_SCOPES`` grants its subject (subject_scopes.py), else none.

Verified tokens: a token whose signature and claims passed is remembered by its SHA-256 (never
the token itself) with its claims, in a bounded table (``VERIFIED_TOKENS``, least recently used
leave first), until its ``exp`` (+ the leeway); the time-bound claim checks run again on every use,
so an entry answers exactly what a full check would, minus the signature work. A refused token is
never remembered (each try pays the full check). Revocation is the JWKS's, as before: a refresh
that no longer lists a key forgets every token that key signed, so they are refused from then
on, just as without the table; a key still listed keeps its tokens good until ``exp``, as before.
"""
from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .errors import ApiError
from .expiring import Expiring
from .issuer_access import IssuerAccess, TokenFileError
from .settings import AuthMode

log = logging.getLogger("spark_api.auth")

SCOPE_READ, SCOPE_SUBMIT, SCOPE_ADMIN = "jobs:read", "jobs:submit", "jobs:admin"
ALLOWED_ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30
VERIFIED_TOKENS = 4096  # distinct verified tokens remembered (~1 KB each with their claims)


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
    """Keys cannot be had right now; the detail is logged, never sent to the caller."""

    def __init__(self, detail: str, retry_after: float = 5.0) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class OidcVerifier:
    """Validates bearer JWTs against one issuer's discovered JWKS."""

    def __init__(self, issuer: str, audience: str, client: httpx.AsyncClient,
                 refresh_interval: float = 5.0, access: IssuerAccess | None = None,
                 max_backoff: float = 60.0, max_lifetime: float = 86400.0) -> None:
        self.issuer, self.audience, self.client = issuer, audience, client
        # Who may see the discovery token (issuer_access.py): none without a token file.
        self.access = access or IssuerAccess(issuer)
        self.refresh_interval, self.max_backoff = refresh_interval, max_backoff
        self.max_lifetime = max_lifetime
        self._jwks_uri: str | None = None
        self._keys: KeySet | None = None
        self._next_attempt = float("-inf")  # monotonic time before which no refresh starts
        self._failures = 0
        self._inflight: asyncio.Task[None] | None = None
        self.fetch_attempts = 0  # refreshes started (each is a discovery and/or a JWKS fetch)
        # sha256(token) -> (kid, claims) of tokens that passed, until exp + leeway (wall clock)
        self._verified: Expiring[bytes, tuple[str, dict[str, Any]]] = Expiring(VERIFIED_TOKENS)
        self.signature_checks = 0  # tokens whose signature was checked (not answered from memory)

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
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise IssuerUnavailable(f"cannot read {url}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(data, dict):
            raise IssuerUnavailable(f"{url} did not return a JSON object")
        return data

    async def _fetch_keys(self) -> None:
        """One refresh: discovery (once) and the JWKS; sets the next allowed attempt."""
        self.fetch_attempts += 1
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover()
            data = await self._get_json(self._jwks_uri)
            try:
                keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise IssuerUnavailable(f"JWKS at {self._jwks_uri} is not valid: {exc}") from exc
        except IssuerUnavailable as exc:
            self._failures += 1
            wait = min(self.max_backoff, self.refresh_interval * 2 ** (self._failures - 1))
            self._next_attempt = time.monotonic() + wait
            log.warning("OIDC key refresh failed (%d in a row, next try in %.0f s): %s",
                        self._failures, wait, exc)
            exc.retry_after = wait
            raise
        self._keys, self._failures = keys, 0
        kids = {key.kid for key in keys.keys}
        self._verified.drop_if(lambda entry: entry[0] not in kids)  # rotated out: refused now
        self._next_attempt = time.monotonic() + self.refresh_interval
        log.info("loaded %d signing key(s) from %s", len(keys.keys), self._jwks_uri)

    def _refresh_done(self, task: asyncio.Task[None]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter got it already

    async def _refresh(self) -> None:
        """Join the refresh in flight, or start one unless rate-limited (then return at once).

        The refresh is a task of its own: a caller that goes away does not cancel it for the
        others (``shield``), and it is bounded by the fetch timeouts.
        """
        task = self._inflight
        if task is None:
            wait = self._next_attempt - time.monotonic()
            if wait > 0:
                if self._keys is None:
                    raise IssuerUnavailable("no signing keys yet; a refresh is backing off",
                                            retry_after=wait)
                return
            task = asyncio.get_running_loop().create_task(self._fetch_keys())
            self._inflight = task
            task.add_done_callback(self._refresh_done)
        await asyncio.shield(task)

    def _lookup(self, kid: str) -> Any | None:
        if self._keys is None:
            return None
        try:
            return self._keys.get_by_kid(kid)
        except (JoseError, ValueError, KeyError):
            return None

    async def verify(self, token: str) -> dict[str, Any]:
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        remembered = self._verified.get(digest, time.time())
        if remembered is not None:
            self._check_claims(remembered[1])  # exp, nbf, iat, lifetime: as of now
            return remembered[1]
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, TypeError, KeyError, UnicodeError) as exc:
            log.info("refused a malformed token: %s", exc)
            raise unauthorized("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS:
            raise unauthorized("token algorithm is not allowed (RS256, ES256 only)")
        if not isinstance(kid, str) or not kid:
            raise unauthorized("token header has no kid")
        key = self._lookup(kid)  # the common case: a cached key, no waiting at all
        if key is None:
            try:
                await self._refresh()
            except IssuerUnavailable:
                if self._keys is None:
                    raise
            key = self._lookup(kid)
        if key is None:
            raise unauthorized("unknown signing key id")
        self.signature_checks += 1
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except (JoseError, ValueError, TypeError, KeyError, UnicodeError) as exc:
            log.info("refused a token: invalid signature or encoding: %s", exc)
            raise unauthorized("invalid signature or encoding") from None
        self._check_claims(claims)
        # _check_claims refused any token without a finite numeric exp
        self._verified.put(digest, (kid, claims), float(claims["exp"]) + LEEWAY_SECONDS)
        return claims

    @staticmethod
    def _numeric(claims: dict[str, Any], name: str) -> float | None:
        value = claims.get(name)
        if value is None:
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool) \
                or not math.isfinite(value):
            raise unauthorized(f"{name} is not numeric")
        return float(value)

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise unauthorized("wrong issuer")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in audiences:
            raise unauthorized("wrong audience")
        exp = self._numeric(claims, "exp")
        if exp is None:
            raise unauthorized("token has no numeric exp")
        if now > exp + LEEWAY_SECONDS:
            raise unauthorized("token expired")
        nbf = self._numeric(claims, "nbf")
        if nbf is not None and now < nbf - LEEWAY_SECONDS:
            raise unauthorized("token not yet valid (nbf)")
        iat = self._numeric(claims, "iat")
        if iat is not None:
            if iat > now + LEEWAY_SECONDS:
                raise unauthorized("token issued in the future (iat)")
            if exp - iat > self.max_lifetime:
                raise unauthorized(f"token lifetime (exp - iat) is over the "
                                   f"{self.max_lifetime:.0f} s maximum")
        if exp - now > self.max_lifetime + LEEWAY_SECONDS:  # also without iat
            raise unauthorized(f"token expires more than {self.max_lifetime:.0f} s from now")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise unauthorized("token has no sub")
        if not isinstance(claims.get("scope", ""), str):
            raise unauthorized("scope claim is not a space-separated string")


def _bearer(request: Request, max_bytes: int) -> str:
    value = request.headers.get("authorization")
    if not value:
        raise unauthorized(None)
    if len(value) > max_bytes:  # before any parsing work
        raise unauthorized(f"the Authorization header is over {max_bytes} bytes")
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
    token = _bearer(request, state.settings.max_token_bytes)
    try:
        claims = await state.verifier.verify(token)
    except IssuerUnavailable as exc:
        # The detail (URLs, TLS errors) is in the log, written where the refresh failed.
        raise ApiError(503, "issuer_unavailable",
                       "cannot validate tokens right now: the OIDC issuer is unavailable; "
                       "try again shortly",
                       headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))}) \
            from None
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
