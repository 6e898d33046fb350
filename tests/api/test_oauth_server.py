"""The mock OAuth server over real HTTP: RFC 6749 client credentials, discovery, JWKS, rotation.

The token endpoint IS the thing under test here, so its grant requests are written by hand on
purpose (malformed ones included); everywhere else tokens come from spark_stack_client."""
from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from simulator.oauth import MockOAuthServer

from .helpers import CLIENTS, REPO, free_loopback


def _claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def test_discovery_and_jwks(oauth) -> None:
    doc = httpx.get(oauth.issuer + "/.well-known/openid-configuration").json()
    assert doc["issuer"] == oauth.issuer
    assert doc["token_endpoint"] == oauth.token_url
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_basic",
                                                                 "client_secret_post"}
    keys = httpx.get(doc["jwks_uri"]).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and "d" not in k and k["kid"] for k in keys)


@pytest.mark.parametrize("method", ["basic", "post"])
def test_client_credentials_token_verifies_with_the_jwks(oauth, method: str) -> None:
    data = {"grant_type": "client_credentials", "scope": "jobs:read"}
    kwargs: dict = {}
    if method == "basic":
        kwargs["auth"] = ("alice", CLIENTS["alice"]["secret"])
    else:
        data.update(client_id="alice", client_secret=CLIENTS["alice"]["secret"])
    response = httpx.post(oauth.token_url, data=data, **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "jobs:read"
    assert response.headers["cache-control"] == "no-store"
    keys = KeySet.import_key_set(httpx.get(oauth.jwks_url).json())
    token = jwt.decode(body["access_token"], keys, algorithms=["RS256"])
    assert token.claims["sub"] == "alice" and token.claims["aud"] == "spark-api"
    assert token.claims["iss"] == oauth.issuer and token.claims["exp"] > time.time()


def test_no_scope_requested_grants_the_clients_scopes(oauth) -> None:
    response = httpx.post(oauth.token_url, data={"grant_type": "client_credentials"},
                          auth=("root", CLIENTS["root"]["secret"]))
    assert set(response.json()["scope"].split()) == {"jobs:read", "jobs:submit", "jobs:admin"}


@pytest.mark.parametrize("client,secret", [("alice", "wrong"), ("nobody", "x"), ("", "")])
def test_invalid_client(oauth, client: str, secret: str) -> None:
    response = httpx.post(oauth.token_url, data={"grant_type": "client_credentials"},
                          auth=(client, secret))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    response = httpx.post(oauth.token_url, data={"grant_type": "client_credentials",
                                                 "client_id": client, "client_secret": secret})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_invalid_scope_and_grant(oauth) -> None:
    auth = ("alice", CLIENTS["alice"]["secret"])
    response = httpx.post(oauth.token_url, auth=auth,
                          data={"grant_type": "client_credentials", "scope": "jobs:admin"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    response = httpx.post(oauth.token_url, auth=auth, data={"grant_type": "password"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"
    response = httpx.post(oauth.token_url, auth=auth, json={"grant_type": "client_credentials"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_rotation_grace_and_drop(tmp_path) -> None:
    ip, _ = free_loopback()
    server = MockOAuthServer(ip, 0, CLIENTS, rotation_grace=3600)
    running = server.start()
    try:
        first = [k["kid"] for k in httpx.get(running.jwks_url).json()["keys"]]
        rotated = httpx.post(running.issuer + "/admin/rotate-keys").json()
        kids = [k["kid"] for k in httpx.get(running.jwks_url).json()["keys"]]
        assert kids == first + [rotated["kid"]]  # old key kept for the grace period
        token = httpx.post(running.token_url, data={"grant_type": "client_credentials"},
                           auth=("alice", CLIENTS["alice"]["secret"])).json()["access_token"]
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header["kid"] == rotated["kid"]
        dropped = httpx.post(running.issuer + "/admin/rotate-keys", json={"keepOld": False}).json()
        assert [k["kid"] for k in httpx.get(running.jwks_url).json()["keys"]] == [dropped["kid"]]
        # minting is off unless asked for
        assert httpx.post(running.issuer + "/test/mint", json={}).status_code == 404
    finally:
        server.stop()


def test_secrets_never_logged(caplog) -> None:
    ip, _ = free_loopback()
    with caplog.at_level(logging.DEBUG), MockOAuthServer(ip, 0, CLIENTS) as running:
        httpx.post(running.token_url, data={"grant_type": "client_credentials"},
                   auth=("alice", CLIENTS["alice"]["secret"]))
        httpx.post(running.token_url, data={"grant_type": "client_credentials"},
                   auth=("alice", "a-wrong-secret-xyz"))
    text = caplog.text + repr(MockOAuthServer(ip, 0, CLIENTS).clients)
    assert "alice" in caplog.text
    for secret in [c["secret"] for c in CLIENTS.values()] + ["a-wrong-secret-xyz"]:
        assert secret not in text


def test_cli_serves_and_hides_secrets(tmp_path) -> None:
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": CLIENTS}))
    ip, port = free_loopback()
    log = tmp_path / "cli.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "simulator.oauth", "--host", ip,
                                    "--port", str(port), "--clients", str(clients),
                                    "--audience", "aud-x"], cwd=REPO, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, doc = time.monotonic() + 30, None
        while time.monotonic() < deadline and doc is None:
            try:
                doc = httpx.get(f"http://{ip}:{port}/.well-known/openid-configuration").json()
            except httpx.HTTPError:
                assert process.poll() is None, log.read_text()
                time.sleep(0.1)
        assert doc is not None and doc["issuer"] == f"http://{ip}:{port}"
        token = httpx.post(doc["token_endpoint"], data={"grant_type": "client_credentials"},
                           auth=("bob", CLIENTS["bob"]["secret"])).json()["access_token"]
        assert _claims(token)["aud"] == "aud-x"
    finally:
        process.terminate()
        process.wait(timeout=15)
    output = log.read_text()
    assert "alice" in output and all(c["secret"] not in output for c in CLIENTS.values())
