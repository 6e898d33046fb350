"""The default OAuth setup: the cluster's own ServiceAccount token issuer, rendered for real.

`helm install full-stack ./deploy/charts` must give the API what it needs to validate projected
ServiceAccount tokens: its own token and the cluster CA (read-only) for the issuer's discovery
and JWKS, the two file settings, and scopes for the release namespace's ServiceAccounts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulator.render import RenderError, Rendered, render

from .chartlib import chart_of, env_value, pod_spec

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "charts"


def _api(r: Rendered) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod spec, api container) of the api-service Deployment."""
    [deployment] = [o for o in r.objects("Deployment", hooks=False) if chart_of(o) == "api-service"]
    spec = pod_spec(deployment)
    [container] = [c for c in spec["containers"] if c["name"] == "api"]
    return spec, container


def _issuer_volume(spec: dict[str, Any]) -> dict[str, Any] | None:
    found = [v for v in spec.get("volumes") or [] if v["name"] == "issuer-access"]
    return found[0] if found else None


@pytest.mark.parametrize("openshift", [False, True], ids=["kubernetes", "openshift"])
def test_default_full_stack_mounts_token_and_ca_read_only(openshift: bool) -> None:
    r = render(DEPLOY, release="full-stack", namespace="analytics", openshift=openshift)
    spec, api = _api(r)
    assert env_value(api, "SPARK_API_OIDC_ISSUER") == "https://kubernetes.default.svc.cluster.local"
    assert env_value(api, "SPARK_API_OIDC_AUDIENCE") == "spark-stack-api"
    volume = _issuer_volume(spec)
    assert volume is not None
    sources = volume["projected"]["sources"]
    [token] = [s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s]
    # No audience: the token is for the API server itself (discovery needs an authenticated
    # caller); the API's own audience would let anyone holding it call the API as this pod.
    assert "audience" not in token and token["expirationSeconds"] <= 3600
    [ca] = [s["configMap"] for s in sources if "configMap" in s]
    assert ca["name"] == "kube-root-ca.crt" and ca["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    [mount] = [m for m in api["volumeMounts"] if m["name"] == "issuer-access"]
    assert mount["readOnly"] is True
    base = mount["mountPath"].rstrip("/")
    assert env_value(api, "SPARK_API_OIDC_CA_FILE") == f"{base}/{ca['items'][0]['path']}"
    assert env_value(api, "SPARK_API_OIDC_DISCOVERY_TOKEN_FILE") == f"{base}/{token['path']}"
    assert json.loads(env_value(api, "SPARK_API_OIDC_SUBJECT_SCOPES") or "") == {
        "system:serviceaccount:analytics:spark-stack-client": "jobs:read jobs:submit"}
    # The projected volume is the only token the pod gets; nothing else mounts a secret path.
    assert spec["automountServiceAccountToken"] is False
    assert "create token" in r.notes and 'audience: "spark-stack-api"' in r.notes
    assert "system:serviceaccount:analytics:spark-stack-client" in r.notes


def test_rendered_subject_scopes_are_accepted_by_the_api() -> None:
    from spark_api.subject_scopes import SubjectScopes  # the API's own parser, not a copy

    r = render(DEPLOY, release="full-stack", namespace="team-a")
    table = SubjectScopes.parse(env_value(_api(r)[1], "SPARK_API_OIDC_SUBJECT_SCOPES"))
    # By default one named ServiceAccount, not every one of the namespace (issue 9 item 3).
    assert table.scopes_for("system:serviceaccount:team-a:spark-stack-client") == {
        "jobs:read", "jobs:submit"}
    assert table.scopes_for("system:serviceaccount:team-a:runner") == frozenset()
    assert table.scopes_for("system:serviceaccount:team-b:spark-stack-client") == frozenset()


@pytest.mark.parametrize("sets,mounted", [
    (["api-service.oauth.issuerUrl=https://kubernetes.default.svc"], True),
    (["api-service.oauth.issuerUrl=https://kubernetes.default.svc.corp.internal"], True),
    (["api-service.oauth.issuerUrl=https://idp.example/realms/x"], False),
    (["api-service.oauth.issuerUrl=https://idp.example/realms/x",
      "api-service.oauth.kubernetesIssuer=true"], True),
    (["api-service.oauth.kubernetesIssuer=false"], False),
    (["api-service.oauth.enabled=false"], False),
], ids=["kubernetes.default.svc", "other-cluster-domain", "external-idp", "forced-on",
        "forced-off", "auth-disabled"])
def test_token_and_ca_only_for_the_kubernetes_issuer(sets: list[str], mounted: bool) -> None:
    spec, api = _api(render(DEPLOY, [], sets, release="full-stack"))
    assert (_issuer_volume(spec) is not None) is mounted
    assert (env_value(api, "SPARK_API_OIDC_DISCOVERY_TOKEN_FILE") is not None) is mounted
    assert (env_value(api, "SPARK_API_OIDC_CA_FILE") is not None) is mounted


def test_proxy_mode_has_no_issuer_access() -> None:
    r = render(DEPLOY, [], ["api-service.oauth.mode=openshift-proxy"], release="p", openshift=True)
    spec, api = _api(r)
    assert _issuer_volume(spec) is None
    assert env_value(api, "SPARK_API_OIDC_SUBJECT_SCOPES") is None


def test_subject_scopes_null_grants_none() -> None:
    _, api = _api(render(DEPLOY, [], ["api-service.oauth.subjectScopes=null"], release="x"))
    assert env_value(api, "SPARK_API_OIDC_SUBJECT_SCOPES") is None


@pytest.mark.parametrize("sets,field", [
    (["api-service.oauth.kubernetesIssuer=maybe"], "kubernetesIssuer"),
    (["api-service.oauth.subjectScopes.a\\*b=jobs:read"], "subjectScopes"),
    (["api-service.oauth.subjectScopes.x=jobs:write"], "subjectScopes"),
    (["api-service.oauth.issuerUrl=http://kubernetes.default.svc",
      "api-service.oauth.kubernetesIssuer=true"], "kubernetesIssuer"),
], ids=["kubernetesIssuer-enum", "glob-in-the-middle", "unknown-scope", "forced-over-http"])
def test_refused_naming_the_field(sets: list[str], field: str) -> None:
    with pytest.raises(RenderError) as refused:
        render(DEPLOY, [], sets, release="bad", validate=False)
    assert field in str(refused.value), str(refused.value)
