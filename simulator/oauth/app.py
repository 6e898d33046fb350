"""The mock server's HTTP surface (Starlette): discovery, JWKS, token, rotation, test minting."""
from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from joserfc import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .config import ClientConfig
from .keys import KeyRing

log = logging.getLogger("simulator.oauth")


@dataclass
class OAuthSettings:
    issuer: str
    audience: str
    clients: dict[str, ClientConfig]
    token_lifetime: int = 300
    rotation_grace: float | None = None  # default: one token lifetime
    enable_test_mint: bool = False
    # Like the Kubernetes API server: discovery and JWKS only for callers bearing this token.
    discovery_token: str | None = None
    # Like the API server too: a JWKS on another host (its advertise address), not the issuer's.
    jwks_uri: str | None = None


def _oauth_error(status: int, error: str, description: str,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    """RFC 6749 section 5.2 error response."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache",
                                 **(headers or {})})


def build_app(settings: OAuthSettings, keys: KeyRing) -> Starlette:
    def sign(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        key = keys.current
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT", **(header or {})},
                          claims, key)

    def base_claims(subject: str, scopes: list[str]) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": settings.issuer, "sub": subject, "aud": settings.audience,
                "iat": now, "nbf": now, "exp": now + settings.token_lifetime,
                "scope": " ".join(scopes), "client_id": subject, "jti": uuid.uuid4().hex}

    def refused(request: Request) -> JSONResponse | None:
        """401 unless the caller shows the discovery token (when one is configured)."""
        if settings.discovery_token is None:
            return None
        sent = request.headers.get("authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {settings.discovery_token}".encode()):
            return None
        log.info("discovery/JWKS refused: no or wrong bearer token")
        return JSONResponse({"kind": "Status", "status": "Failure", "reason": "Unauthorized",
                             "code": 401}, status_code=401)

    async def discovery(request: Request) -> JSONResponse:
        if (denied := refused(request)) is not None:
            return denied
        base = settings.issuer.rstrip("/")
        return JSONResponse({
            "issuer": settings.issuer, "jwks_uri": settings.jwks_uri or f"{base}/jwks",
            "token_endpoint": f"{base}/token", "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": sorted({s for c in settings.clients.values() for s in c.scopes}),
            "response_types_supported": ["token"], "subject_types_supported": ["public"],
        })

    async def jwks(request: Request) -> JSONResponse:
        if (denied := refused(request)) is not None:
            return denied
        return JSONResponse(keys.jwks(), headers={"Cache-Control": "max-age=60"})

    def authenticate(request: Request, form: dict[str, str]
                     ) -> tuple[ClientConfig | None, JSONResponse | None]:
        header = request.headers.get("authorization", "")
        basic = header.lower().startswith("basic ")
        if basic and ("client_secret" in form):
            return None, _oauth_error(400, "invalid_request",
                                      "use one client authentication method, not two")
        if basic:
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
                raw_id, _, raw_secret = decoded.partition(":")
                client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            except (binascii.Error, UnicodeDecodeError):
                client_id, secret = "", ""
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = settings.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
            log.info("token request refused: invalid client %r", client_id)
            challenge = {"WWW-Authenticate": 'Basic realm="mock-oauth"'} if basic else {}
            return None, _oauth_error(401, "invalid_client", "client authentication failed",
                                      challenge)
        return client, None

    async def token(request: Request) -> JSONResponse:
        # Parsed by hand: Starlette's form parser needs python-multipart, a dependency for nothing.
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True,
                              strict_parsing=False)
        except UnicodeDecodeError:
            pairs = []
        if ctype != "application/x-www-form-urlencoded" or len(dict(pairs)) != len(pairs):
            return _oauth_error(400, "invalid_request",
                                "expected one application/x-www-form-urlencoded value per field")
        form = dict(pairs)
        client, error = authenticate(request, form)
        if error is not None or client is None:
            return error or _oauth_error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type",
                                "only grant_type=client_credentials is supported")
        requested = form.get("scope", "").split()
        if requested and not set(requested) <= client.scopes:
            extra = " ".join(sorted(set(requested) - client.scopes))
            return _oauth_error(400, "invalid_scope", f"scope not allowed for this client: {extra}")
        scopes = sorted(set(requested) if requested else client.scopes)
        log.info("issued a token to client %r with scope %r", client.client_id, " ".join(scopes))
        return JSONResponse({"access_token": sign(base_claims(client.client_id, scopes)),
                             "token_type": "Bearer", "expires_in": settings.token_lifetime,
                             "scope": " ".join(scopes)},
                            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def rotate(request: Request) -> JSONResponse:
        grace = settings.rotation_grace if settings.rotation_grace is not None \
            else float(settings.token_lifetime)
        body: dict[str, Any] = {}
        if await request.body():
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if body.get("keepOld") is False:
            grace = 0.0
        elif isinstance(body.get("graceSeconds"), (int, float)):
            grace = float(body["graceSeconds"])
        kid, published = keys.rotate(grace)
        log.info("rotated signing keys: new kid %s, published %s", kid, published)
        return JSONResponse({"kid": kid, "published": published, "graceSeconds": grace})

    async def mint(request: Request) -> JSONResponse:
        """Test only: sign any claims with the real current key (negative tests need these)."""
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        claims = base_claims(str(body.get("sub", "test-subject")),
                             str(body.get("scope", "")).split())
        claims.update(body.get("claims", {}))
        for name in body.get("remove", []):
            claims.pop(name, None)
        return JSONResponse({"access_token": sign(claims, body.get("header")), "claims": claims})

    routes = [Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
              Route("/jwks", jwks, methods=["GET"]),
              Route("/token", token, methods=["POST"]),
              Route("/admin/rotate-keys", rotate, methods=["POST"])]
    if settings.enable_test_mint:
        routes.append(Route("/test/mint", mint, methods=["POST"]))
    return Starlette(routes=routes)
