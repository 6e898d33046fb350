"""How the API reaches its OIDC issuer: which CA it trusts, and when it may show its own token.

The Kubernetes API server (the chart's default issuer) serves discovery and JWKS over TLS signed
by the cluster CA, and by default only to authenticated callers (ClusterRole
``system:service-account-issuer-discovery`` is bound to the group ``system:serviceaccounts``).
So the API trusts ``SPARK_API_OIDC_CA_FILE`` and sends the content of
``SPARK_API_OIDC_DISCOVERY_TOKEN_FILE`` (its own ServiceAccount token) as a bearer token.

The rule for the token (a credential: it must never reach anyone else):
1. only over https, never plain http, and redirects are never followed;
2. to the issuer's own origin (scheme, host, port), for discovery and for a JWKS it serves;
3. to the ``jwks_uri`` origin named by the issuer's discovery document when that origin differs
   from the issuer's (the API server names its advertise address, e.g. ``https://10.0.0.1:6443/
   openid/v1/jwks``) ONLY when a CA file is configured: then every TLS connection the verifier
   makes is verified against that CA alone, so that host has proved it holds a certificate of the
   cluster's own CA, i.e. it is the API server. With the system trust store (public CAs) a
   different JWKS host never gets the token.
The file is read again on every fetch: the kubelet rotates projected tokens.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

_DEFAULT_PORTS = {"https": 443, "http": 80}


class TokenFileError(Exception):
    """The discovery token file cannot be read (the caller answers 503 naming the file)."""


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in; hosts compare case-insensitively."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


@dataclass(frozen=True)
class IssuerAccess:
    """TLS trust and the discovery token rule for one issuer."""

    issuer: str
    ca_file: Path | None = None
    token_file: Path | None = None

    def client(self) -> httpx.AsyncClient:
        """An HTTP client of its own for the issuer: the CA file (alone) or the system store."""
        verify: ssl.SSLContext | bool = True
        if self.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.AsyncClient(verify=verify, follow_redirects=False)

    def token_allowed(self, url: str, jwks_uri: str | None = None) -> bool:
        """Rule 1-3 above: may the discovery token go to ``url``?"""
        if self.token_file is None:
            return False
        target = origin(url)
        if target[0] != "https":
            return False
        if target == origin(self.issuer):
            return True
        return (self.ca_file is not None and jwks_uri is not None and url == jwks_uri
                and target == origin(jwks_uri))

    def headers(self, url: str, jwks_uri: str | None = None) -> dict[str, str]:
        """The Authorization header for ``url`` if the rule allows it, read fresh from the file."""
        if not self.token_allowed(url, jwks_uri) or self.token_file is None:
            return {}
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise TokenFileError(f"cannot read SPARK_API_OIDC_DISCOVERY_TOKEN_FILE "
                                 f"{self.token_file}: {exc.strerror or exc}") from None
        if not token:
            raise TokenFileError(f"SPARK_API_OIDC_DISCOVERY_TOKEN_FILE {self.token_file} is empty")
        return {"Authorization": f"Bearer {token}"}
