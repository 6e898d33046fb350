"""Authentication and authorization against the real API process and real signed tokens.

Every bad token must give 401 (or 403 for a missing scope) with a WWW-Authenticate challenge,
never 500, and never reach the job logic.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from .helpers import bearer, fetch_token


def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mint(oauth, **body) -> str:
    response = httpx.post(oauth.issuer + "/test/mint", json=body)
    response.raise_for_status()
    return response.json()["access_token"]


def _assert_401(response: httpx.Response, expect_error: bool = True) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    if expect_error:
        assert 'error="invalid_token"' in challenge
        assert "error_description=" in challenge
    assert response.json()["error"]["code"] == "unauthorized"


def test_valid_token_reads_the_catalog(api_nospark, token) -> None:
    response = httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(token("alice")))
    assert response.status_code == 200
    assert "pi" in {item["name"] for item in response.json()}


def test_missing_token(api_nospark) -> None:
    _assert_401(httpx.get(api_nospark.url + "/v1/catalog"), expect_error=False)


@pytest.mark.parametrize("header", ["Basic YWxpY2U6eA==", "Bearer", "Bearer  x y", "token abc"])
def test_malformed_authorization_header(api_nospark, header: str) -> None:
    _assert_401(httpx.get(api_nospark.url + "/v1/catalog", headers={"Authorization": header}))


@pytest.mark.parametrize("raw", ["abc", "a.b.c", "a.b", "....", "eyJhbGciOiJSUzI1NiJ9.e30.",
                                 _b64({"alg": "RS256", "kid": "x"}) + ".!!!.???"])
def test_malformed_token(api_nospark, raw: str) -> None:
    _assert_401(httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(raw)))


@pytest.mark.parametrize("case,body", [
    ("expired", {"claims": {"exp": int(time.time()) - 3600}}),
    ("not-yet-valid", {"claims": {"nbf": int(time.time()) + 3600}}),
    ("wrong-issuer", {"claims": {"iss": "http://127.0.0.1:1/other"}}),
    ("wrong-audience", {"claims": {"aud": "someone-else"}}),
    ("no-exp", {"remove": ["exp"]}),
    ("no-sub", {"remove": ["sub"]}),
    ("scope-not-a-string", {"claims": {"scope": ["jobs:read"]}}),
])
def test_bad_claims_signed_by_the_real_key(api_nospark, oauth, case: str, body: dict) -> None:
    body.setdefault("sub", "alice")
    body.setdefault("scope", "jobs:read jobs:submit")
    _assert_401(httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(_mint(oauth, **body))))


def test_audience_list_containing_ours_is_accepted(api_nospark, oauth) -> None:
    token = _mint(oauth, sub="alice", scope="jobs:read", claims={"aud": ["x", "spark-api"]})
    assert httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(token)).status_code == 200


def test_non_ascii_token(api_nospark) -> None:
    raw = "Bearer é.é.é".encode()
    _assert_401(httpx.get(api_nospark.url + "/v1/catalog", headers={"Authorization": raw}))


def test_bad_signature(api_nospark, token) -> None:
    header, payload, signature = token("alice").split(".")
    forged_payload = _b64({**json.loads(base64.urlsafe_b64decode(payload + "==")),
                           "scope": "jobs:admin"})
    _assert_401(httpx.get(api_nospark.url + "/v1/catalog",
                          headers=bearer(f"{header}.{forged_payload}.{signature}")))
    flipped = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    _assert_401(httpx.get(api_nospark.url + "/v1/catalog",
                          headers=bearer(f"{header}.{payload}.{flipped}")))


def test_alg_none(api_nospark, oauth, token) -> None:
    claims = json.loads(base64.urlsafe_b64decode(token("alice").split(".")[1] + "=="))
    kid = json.loads(base64.urlsafe_b64decode(token("alice").split(".")[0] + "=="))["kid"]
    for alg in ("none", "None", "NONE"):
        raw = f"{_b64({'alg': alg, 'kid': kid, 'typ': 'JWT'})}.{_b64(claims)}."
        _assert_401(httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(raw)))


def test_hs256_signed_with_the_public_key(api_nospark, oauth, token) -> None:
    """The classic key-confusion attack: the public key's PEM as an HMAC secret."""
    jwks = httpx.get(oauth.jwks_url).json()
    public = RSAKey.import_key(jwks["keys"][-1])
    claims = json.loads(base64.urlsafe_b64decode(token("alice").split(".")[1] + "=="))
    claims["scope"] = "jobs:admin jobs:read jobs:submit"
    # Signed by hand: joserfc itself (rightly) refuses a public key as an HMAC secret.
    signing_input = f"{_b64({'alg': 'HS256', 'kid': public.kid, 'typ': 'JWT'})}.{_b64(claims)}"
    mac = hmac.new(public.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{_b64(mac)}"
    _assert_401(httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(forged)))


def test_unknown_kid_and_embedded_key_are_refused(api_nospark, oauth, token) -> None:
    """A token signed by an attacker's key, naming it by kid, in `jwk` and in `jku`."""
    attacker = RSAKey.generate_key(2048, private=True, parameters={"kid": "attacker"})
    claims = json.loads(base64.urlsafe_b64decode(token("alice").split(".")[1] + "=="))
    for header in ({"alg": "RS256", "kid": "attacker"},
                   {"alg": "RS256", "kid": "attacker",
                    "jwk": attacker.as_dict(private=False)},
                   {"alg": "RS256", "kid": "attacker", "jku": oauth.jwks_url},
                   {"alg": "RS256", "kid": "attacker", "x5u": oauth.jwks_url}):
        forged = jwt.encode(header, claims, attacker)
        _assert_401(httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(forged)))


def test_missing_scope_is_403(api_nospark, token) -> None:
    response = httpx.post(api_nospark.url + "/v1/jobs", json={"job": "pi"},
                          headers=bearer(token("reader")))
    assert response.status_code == 403, response.text
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and "jobs:submit" in challenge
    response = httpx.get(api_nospark.url + "/v1/jobs",
                         headers=bearer(token("alice", "jobs:submit")))
    assert response.status_code == 403
    assert "jobs:read" in response.json()["error"]["message"]


def test_key_rotation_is_picked_up(api_nospark, oauth, oauth_server, token) -> None:
    """After a rotation the API meets a new kid, refetches the JWKS (rate-limited) and accepts it.

    Polls with a deadline rather than sleeping a fixed time: the refetch is rate-limited to once
    per few seconds, so the first tries may legitimately be refused.
    """
    old = token("alice")
    new_kid = oauth_server.rotate_keys()
    fresh = fetch_token(oauth.token_url, "alice")  # not the fixture's: signed by the new key
    assert json.loads(base64.urlsafe_b64decode(fresh.split(".")[0] + "=="))["kid"] == new_kid
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        status = httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(fresh)).status_code
        if status == 200:
            break
        assert status == 401
        time.sleep(1)
    assert status == 200
    # The old key stays published for the grace period: tokens it signed still work.
    assert httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(old)).status_code == 200


def test_issuer_down_is_503_not_500(api_factory, token) -> None:
    from .helpers import dead_master_url, free_loopback, oidc_env

    ip, port = free_loopback()
    api = api_factory(oidc_env(f"http://{ip}:{port}", dead_master_url()))
    response = httpx.get(api.url + "/v1/catalog", headers=bearer(token("alice")))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "issuer_unavailable"


def test_openshift_proxy_mode(api_factory) -> None:
    """Identity from the sidecar's headers; the peer here is loopback, as the sidecar's is."""
    from .helpers import OWNER_SECRET, dead_master_url

    api = api_factory({"SPARK_API_MASTER_URL": dead_master_url(),
                       "SPARK_API_AUTH_MODE": "openshift-proxy",
                       "SPARK_API_OWNER_SECRET": OWNER_SECRET})
    ok = httpx.get(api.url + "/v1/catalog", headers={"X-Forwarded-User": "alice"})
    assert ok.status_code == 200
    _assert_401(httpx.get(api.url + "/v1/catalog"))
    _assert_401(httpx.get(api.url + "/v1/catalog", headers=bearer("whatever")))


def test_openshift_proxy_refuses_a_non_loopback_peer() -> None:
    """The peer check itself (no non-loopback traffic may be sent here, so an ASGI scope)."""
    import asyncio

    from starlette.requests import Request

    from spark_api.auth import get_principal
    from spark_api.errors import ApiError
    from spark_api.settings import AuthMode

    class _State:
        settings = type("S", (), {"auth_mode": AuthMode.OPENSHIFT_PROXY})()

    app = type("App", (), {"state": _State()})()

    def request(peer: str) -> Request:
        return Request({"type": "http", "method": "GET", "path": "/", "app": app,
                        "headers": [(b"x-forwarded-user", b"mallory")], "client": (peer, 1234)})

    with pytest.raises(ApiError) as refused:
        asyncio.run(get_principal(request("10.1.2.3")))
    assert refused.value.status == 401
    assert asyncio.run(get_principal(request("127.0.0.1"))).subject == "mallory"
    assert asyncio.run(get_principal(request("::1"))).subject == "mallory"
