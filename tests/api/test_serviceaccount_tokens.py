"""Kubernetes ServiceAccount tokens as bearer tokens (the chart's default issuer).

The real mock OAuth server plays the Kubernetes API server: https with a certificate from a
private "cluster" CA, discovery and JWKS only for callers that bear its discovery token, and
SA-shaped tokens (no scope claim, sub system:serviceaccount:<ns>:<name>, aud a list) signed by
its real key through /test/mint. The API runs as a real process with SPARK_API_OIDC_CA_FILE,
SPARK_API_OIDC_DISCOVERY_TOKEN_FILE and SPARK_API_OIDC_SUBJECT_SCOPES.
"""
from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.oauth import MockOAuthServer

from .helpers import ApiProcess, bearer, dead_master_url, free_loopback, oidc_env
from .tls_servers import PrivateCA, RecordingServer

AUDIENCE = "spark-stack-api"
SCOPES = {"system:serviceaccount:team-a:*": "jobs:read jobs:submit",
          "system:serviceaccount:team-a:viewer": "jobs:read"}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> PrivateCA:
    return PrivateCA(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def cluster_issuer(ca: PrivateCA) -> Iterator[MockOAuthServer]:
    """The 'API server': https (private CA), discovery/JWKS only with the discovery token."""
    ip, _ = free_loopback()
    server = MockOAuthServer(ip, 0, {}, audience=AUDIENCE, enable_test_mint=True,
                             tls=ca.issue(ip), discovery_token="discovery-token-1")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _token_file(directory: Path, content: str) -> Path:
    path = directory / "token"
    path.write_text(content + "\n")
    return path


def _k8s_env(issuer: str, ca: PrivateCA | None, token_file: Path | None,
             scopes: dict[str, str] | None = None) -> dict[str, str]:
    extra = {"SPARK_API_OIDC_AUDIENCE": AUDIENCE}
    if ca is not None:
        extra["SPARK_API_OIDC_CA_FILE"] = str(ca.cert_path)
    if token_file is not None:
        extra["SPARK_API_OIDC_DISCOVERY_TOKEN_FILE"] = str(token_file)
    if scopes is not None:
        extra["SPARK_API_OIDC_SUBJECT_SCOPES"] = json.dumps(scopes)
    return oidc_env(issuer, dead_master_url(), **extra)


@pytest.fixture(scope="module")
def k8s_api(cluster_issuer: MockOAuthServer, ca: PrivateCA, tmp_path_factory,
            api_factory: Callable[..., ApiProcess]) -> ApiProcess:
    assert cluster_issuer.running is not None
    token = _token_file(tmp_path_factory.mktemp("sa"), "discovery-token-1")
    return api_factory(_k8s_env(cluster_issuer.running.issuer, ca, token, SCOPES))


def mint_sa(issuer: str, ca: PrivateCA, namespace: str, name: str,
            scope: str | None = None, audience: str = AUDIENCE) -> str:
    """A token shaped like a projected ServiceAccount token; ``scope`` adds a scope claim."""
    claims: dict[str, Any] = {
        "aud": [audience],
        "kubernetes.io": {"namespace": namespace,
                          "serviceaccount": {"name": name, "uid": "0b9c-test"},
                          "pod": {"name": f"{name}-pod", "uid": "7f3e-test"}}}
    body: dict[str, Any] = {"sub": f"system:serviceaccount:{namespace}:{name}", "claims": claims,
                            "remove": ["client_id", "jti"]}
    if scope is None:
        body["remove"].append("scope")
    else:
        body["scope"] = scope
    response = httpx.post(issuer + "/test/mint", json=body,
                          verify=ssl.create_default_context(cafile=str(ca.cert_path)))
    response.raise_for_status()
    token = response.json()
    assert ("scope" in token["claims"]) is (scope is not None)
    return token["access_token"]


def _catalog(api: ApiProcess, token: str) -> httpx.Response:
    return httpx.get(api.url + "/v1/catalog", headers=bearer(token))


def _submit_empty(api: ApiProcess, token: str) -> httpx.Response:
    """POST an invalid body: 422 once authorized for jobs:submit, 403 before that."""
    return httpx.post(api.url + "/v1/jobs", json={}, headers=bearer(token))


def _assert_403(response: httpx.Response, scope: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert scope in response.headers["www-authenticate"]


def test_sa_token_of_a_mapped_namespace_reads_and_submits(k8s_api, cluster_issuer, ca) -> None:
    token = mint_sa(cluster_issuer.running.issuer, ca, "team-a", "runner")
    response = _catalog(k8s_api, token)
    assert response.status_code == 200, response.text
    assert "pi" in {item["name"] for item in response.json()}
    assert _submit_empty(k8s_api, token).status_code == 422


def test_exact_pattern_beats_the_namespace_glob(k8s_api, cluster_issuer, ca) -> None:
    token = mint_sa(cluster_issuer.running.issuer, ca, "team-a", "viewer")
    assert _catalog(k8s_api, token).status_code == 200
    _assert_403(_submit_empty(k8s_api, token), "jobs:submit")


@pytest.mark.parametrize("namespace,name", [("team-b", "runner"), ("team-ab", "runner"),
                                            ("team", "a:runner")])
def test_sa_token_of_another_namespace_is_403(k8s_api, cluster_issuer, ca,
                                              namespace: str, name: str) -> None:
    token = mint_sa(cluster_issuer.running.issuer, ca, namespace, name)
    _assert_403(_catalog(k8s_api, token), "jobs:read")


def test_a_scope_claim_is_never_widened_by_the_mapping(k8s_api, cluster_issuer, ca) -> None:
    issuer = cluster_issuer.running.issuer
    read_only = mint_sa(issuer, ca, "team-a", "runner", scope="jobs:read")
    assert _catalog(k8s_api, read_only).status_code == 200
    _assert_403(_submit_empty(k8s_api, read_only), "jobs:submit")
    empty = mint_sa(issuer, ca, "team-a", "runner", scope="")
    _assert_403(_catalog(k8s_api, empty), "jobs:read")


def test_no_mapping_means_403(api_nospark, oauth) -> None:
    """The session's API has no SPARK_API_OIDC_SUBJECT_SCOPES: a scope-less token gets nothing."""
    response = httpx.post(oauth.issuer + "/test/mint", json={
        "sub": "system:serviceaccount:team-a:runner", "remove": ["scope"]})
    response.raise_for_status()
    _assert_403(_catalog(api_nospark, response.json()["access_token"]), "jobs:read")


def test_wrong_audience_sa_token_is_401(k8s_api, cluster_issuer, ca) -> None:
    token = mint_sa(cluster_issuer.running.issuer, ca, "team-a", "runner",
                    audience="https://kubernetes.default.svc.cluster.local")
    assert _catalog(k8s_api, token).status_code == 401


def test_without_the_discovery_token_the_issuer_refuses_and_the_api_says_503(
        cluster_issuer, ca, api_factory) -> None:
    api = api_factory(_k8s_env(cluster_issuer.running.issuer, ca, None, SCOPES))
    response = _catalog(api, mint_sa(cluster_issuer.running.issuer, ca, "team-a", "runner"))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    # The reason is logged, not told to the caller (no internal URLs or library messages).
    assert "http" not in response.json()["error"]["message"]
    assert "401" in api.log_tail()


def test_without_the_ca_file_tls_fails_and_the_api_says_503(cluster_issuer, ca, tmp_path,
                                                            api_factory) -> None:
    token = _token_file(tmp_path, "discovery-token-1")
    api = api_factory(_k8s_env(cluster_issuer.running.issuer, None, token, SCOPES))
    response = _catalog(api, mint_sa(cluster_issuer.running.issuer, ca, "team-a", "runner"))
    assert response.status_code == 503, response.text
    assert "certificate" not in response.json()["error"]["message"].lower()
    assert "certificate" in api.log_tail().lower()


def test_token_file_is_read_again_on_each_fetch(ca, tmp_path, api_factory) -> None:
    """The kubelet rotates the token: after a key rotation the API refetches the JWKS with the
    file's new content (the old token is refused by then)."""
    ip, _ = free_loopback()
    server = MockOAuthServer(ip, 0, {}, audience=AUDIENCE, enable_test_mint=True,
                             tls=ca.issue(ip), discovery_token="first")
    running = server.start()
    try:
        token_file = _token_file(tmp_path, "first")
        api = api_factory(_k8s_env(running.issuer, ca, token_file, SCOPES))
        assert _catalog(api, mint_sa(running.issuer, ca, "team-a", "x")).status_code == 200
        token_file.write_text("second\n")
        server.set_discovery_token("second")
        server.rotate_keys(grace_seconds=0)
        token = mint_sa(running.issuer, ca, "team-a", "x")
        # The verifier refetches for an unknown kid at most every 5 s: poll past that window.
        print("[test] waiting (up to 30 s) for the API to refetch the JWKS", flush=True)
        deadline, status = time.monotonic() + 30, 0
        while time.monotonic() < deadline:
            status = _catalog(api, token).status_code
            if status == 200:
                break
            time.sleep(1)
        assert status == 200, api.log_tail()
    finally:
        server.stop()


@pytest.mark.parametrize("jwks_tls,sent", [(True, True), (False, False)],
                         ids=["https-jwks-host-with-cluster-ca", "plain-http-jwks-host"])
def test_discovery_token_goes_to_the_jwks_host_only_over_verified_tls(
        ca, tmp_path, api_factory, jwks_tls: bool, sent: bool) -> None:
    """Like the API server, discovery names a JWKS on another host (its advertise address)."""
    issuer_ip, _ = free_loopback()
    jwks_ip, _ = free_loopback()
    server = MockOAuthServer(issuer_ip, 0, {}, audience=AUDIENCE, enable_test_mint=True,
                             tls=ca.issue(issuer_ip), discovery_token="sa-token")
    jwks_host = RecordingServer(jwks_ip, lambda: server.keys.jwks(),
                                tls=ca.issue(jwks_ip) if jwks_tls else None).start()
    try:
        server.jwks_uri = jwks_host.url + "/openid/v1/jwks"
        running = server.start()
        api = api_factory(_k8s_env(running.issuer, ca, _token_file(tmp_path, "sa-token"),
                                   SCOPES))
        assert _catalog(api, mint_sa(running.issuer, ca, "team-a", "x")).status_code == 200
        assert jwks_host.authorizations, "the API never fetched the JWKS from the named host"
        expected = "Bearer sa-token" if sent else None
        assert set(jwks_host.authorizations) == {expected}
    finally:
        server.stop()
        jwks_host.stop()
