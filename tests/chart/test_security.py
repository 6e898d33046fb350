"""The chart's side of issue 9: who reaches which port, what is refused, least privilege.

The NetworkPolicy tests evaluate the rendered policies the way the Kubernetes NetworkPolicy
API defines them (a pod selected by a policy of a direction admits only what a rule allows;
rules are ORed; `ports` empty means all; `endPort` is a range) for pods with the rendered
pods' own labels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.render import Rendered, RenderError, render

from .chartlib import chart_of, containers, env_value, pod_labels, pod_spec, workloads

ROOT = Path(__file__).resolve().parents[2]
NS = "default"


@dataclass(frozen=True)
class Pod:
    name: str
    labels: dict[str, str]
    namespace: str = NS
    ns_labels: dict[str, str] = field(default_factory=dict)
    ip: str = "10.1.2.3"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions") or []:
        present, value = expr["key"] in labels, labels.get(expr["key"])
        op = expr["operator"]
        if (op == "In" and value not in expr["values"]) or \
                (op == "NotIn" and value in expr["values"]) or \
                (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def _peer_matches(peer: dict[str, Any], pod: Pod, policy_ns: str) -> bool:
    if "ipBlock" in peer:
        import ipaddress
        return ipaddress.ip_address(pod.ip) in ipaddress.ip_network(peer["ipBlock"]["cidr"])
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], pod.ns_labels):
            return False
    elif pod.namespace != policy_ns:
        return False
    return _selects(peer.get("podSelector") or {}, pod.labels)


def _port_matches(rule_ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        start = p["port"]
        if start == port or (p.get("endPort") and start <= port <= p["endPort"]):
            return True
    return False


def _allowed(policies: list[dict[str, Any]], direction: str, subject: Pod, peer: Pod,
             port: int, protocol: str) -> bool:
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p for p in policies
                 if p["metadata"].get("namespace", NS) == subject.namespace
                 and direction in p["spec"].get("policyTypes", ["Ingress"])
                 and _selects(p["spec"]["podSelector"], subject.labels)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(x, peer, subject.namespace) for x in peers)) \
                    and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def reaches(r: Rendered, src: Pod, dst: Pod, port: int, protocol: str = "TCP") -> bool:
    policies = r.objects("NetworkPolicy")
    return (_allowed(policies, "Egress", src, dst, port, protocol)
            and _allowed(policies, "Ingress", dst, src, port, protocol))


def _pods(r: Rendered) -> dict[str, Pod]:
    out = {}
    for w in workloads(r, hooks=True):
        labels = pod_labels(w)
        key = f"{chart_of(w)}/{labels.get('app.kubernetes.io/component')}"
        out[key] = Pod(key, labels, ns_labels={"kubernetes.io/metadata.name": NS})
    return out


DNS = Pod("kube-dns", {"k8s-app": "kube-dns"}, namespace="kube-system",
          ns_labels={"kubernetes.io/metadata.name": "kube-system"}, ip="10.96.0.10")
ELSEWHERE = Pod("db", {"app": "db"}, namespace="data",
                ns_labels={"kubernetes.io/metadata.name": "data"}, ip="10.9.9.9")


@pytest.fixture(scope="module")
def full() -> tuple[Rendered, dict[str, Pod]]:
    r = render(release="rel")
    return r, _pods(r)


# (from, to, port, allowed): the matrix docs/chart.md states.
MATRIX = [
    ("spark-job/worker", "spark-job/master", 7077, True),
    ("spark-job/worker", "spark-job/master", 6066, False),   # no job code at the REST gateway
    ("spark-job/worker", "spark-job/master", 8080, False),   # nor at the master UI
    ("spark-job/worker", "spark-job/master", 40000, False),
    ("spark-job/master", "spark-job/worker", 7078, True),    # worker RPC
    ("spark-job/master", "spark-job/worker", 45123, True),   # a driver's RPC in a worker pod
    ("spark-job/worker", "spark-job/worker", 45123, True),   # executors <-> drivers, shuffle
    ("spark-job/worker", "spark-job/worker", 8081, False),   # one job cannot read others' logs
    ("spark-job/master", "spark-job/master", 6066, False),
    ("api-service/api", "spark-job/master", 6066, True),
    ("api-service/api", "spark-job/master", 8080, True),
    ("api-service/api", "spark-job/master", 7077, False),    # the API never speaks Spark RPC
    ("api-service/api", "spark-job/worker", 8081, True),     # driver logs
    ("api-service/api", "spark-job/worker", 7078, False),
    ("spark-job/test", "spark-job/master", 8080, True),      # helm test
    ("spark-job/test", "spark-job/master", 6066, False),
    ("api-service/test", "api-service/api", 8000, True),     # helm test
    ("spark-job/worker", "api-service/api", 8000, False),    # job code has no use for the API
]


@pytest.mark.parametrize("src,dst,port,allowed", MATRIX,
                         ids=[f"{s}->{d}:{p}" for s, d, p, _ in MATRIX])
def test_network_matrix(full, src: str, dst: str, port: int, allowed: bool) -> None:
    r, pods = full
    assert reaches(r, pods[src], pods[dst], port) is allowed


@pytest.mark.parametrize("src", ["spark-job/master", "spark-job/worker", "api-service/api"])
def test_egress_dns_yes_elsewhere_no(full, src: str) -> None:
    r, pods = full
    assert reaches(r, pods[src], DNS, 53, "UDP") and reaches(r, pods[src], DNS, 53, "TCP")
    assert not reaches(r, pods[src], ELSEWHERE, 5432)


def test_api_egress_to_the_issuer_only_on_its_port() -> None:
    r = render(release="rel", set_values=["api-service.oauth.issuerUrl=http://127.0.3.4:9000"])
    api = _pods(r)["api-service/api"]
    issuer = Pod("issuer", {}, namespace="x", ip="127.0.3.4")
    assert reaches(r, api, issuer, 9000)
    assert not reaches(r, api, issuer, 9001)
    assert not reaches(r, api, ELSEWHERE, 9000)  # an IP literal issuer: that address only
    k8s = render(release="rel")  # the cluster's own issuer: the API server's ports
    api = _pods(k8s)["api-service/api"]
    assert reaches(k8s, api, ELSEWHERE, 6443) and reaches(k8s, api, ELSEWHERE, 443)
    assert not reaches(k8s, api, ELSEWHERE, 80)
    pinned = render(release="rel", values={"api-service": {"networkPolicy": {
        "issuerTo": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "issuerPorts": [8443]}}})
    api = _pods(pinned)["api-service/api"]
    assert reaches(pinned, api, Pod("kas", {}, "x", ip="10.0.0.1"), 8443)
    assert not reaches(pinned, api, ELSEWHERE, 443)


def test_ui_opt_in_for_operators() -> None:
    operator = Pod("op", {"app": "console"}, namespace="ops",
                   ns_labels={"kubernetes.io/metadata.name": "ops"})
    closed = render(release="rel")
    pods = _pods(closed)
    assert not reaches(closed, operator, pods["spark-job/master"], 8080)
    opened = render(release="rel", values={"spark-job": {"networkPolicy": {"uiFrom": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}]}}})
    pods = _pods(opened)
    assert reaches(opened, operator, pods["spark-job/master"], 8080)
    assert reaches(opened, operator, pods["spark-job/worker"], 8081)
    assert not reaches(opened, operator, pods["spark-job/master"], 6066)
    assert not reaches(opened, operator, pods["spark-job/master"], 7077)


def test_service_only_api_reaches_an_external_master_on_its_ports_only() -> None:
    r = render(release="my-service", set_values=[
        "tags.install-spark=false", "api-service.env.sparkMasterUrl=spark://external-master:7077"])
    api = _pods(r)["api-service/api"]
    assert reaches(r, api, ELSEWHERE, 6066) and reaches(r, api, ELSEWHERE, 8080)
    assert not reaches(r, api, ELSEWHERE, 7077)


# --- refusals (issue 9 item 3) ------------------------------------------------------------------

REFUSED = {
    "auth off with an ingress": (["api-service.oauth.enabled=false",
                                  "api-service.ingress.host=api.example"], False,
                                 "allowUnauthenticatedExposure"),
    "auth off with a route": (["api-service.oauth.enabled=false"], True,
                              "allowUnauthenticatedExposure"),
    "http issuer elsewhere": (["api-service.oauth.issuerUrl=http://idp.example/realms/x"], False,
                              "insecureIssuer"),
    "http issuer by IP": (["api-service.oauth.issuerUrl=http://10.0.0.5:9000"], False,
                          "insecureIssuer"),
    "route allows plain http": (["api-service.route.tls.insecureEdgeTerminationPolicy=Allow"],
                                True, "insecureEdgeTerminationPolicy"),
    "ingress without tls": (["api-service.ingress.host=api.example",
                             "api-service.ingress.tls.enabled=false"], False, "tls.enabled"),
    "subject scope star alone": (["api-service.oauth.subjectScopes.\\*=jobs:read"], False,
                                 "subjectScopes"),
    "admin by prefix": (["api-service.oauth.subjectScopes.system:serviceaccount:ns:\\*=jobs:admin"],
                        False, "jobs:admin"),
    "proxy image latest": (["api-service.oauth.proxy.image.tag=latest"], False, "tag"),
}


@pytest.mark.parametrize("sets,openshift,field", REFUSED.values(), ids=REFUSED.keys())
def test_refused_naming_the_value_and_the_fix(sets: list[str], openshift: bool,
                                              field: str) -> None:
    with pytest.raises(RenderError) as refused:
        render(set_values=sets, release="bad", openshift=openshift, validate=False)
    assert field in str(refused.value), str(refused.value)


ACCEPTED = {
    "auth off, not exposed": ["api-service.oauth.enabled=false"],
    "auth off, exposure acknowledged": ["api-service.oauth.enabled=false",
                                        "api-service.ingress.host=api.example",
                                        "api-service.oauth.allowUnauthenticatedExposure=true"],
    "loopback http issuer (the simulator's)": ["api-service.oauth.issuerUrl=http://127.0.3.4:9000"],
    "localhost http issuer": ["api-service.oauth.issuerUrl=http://localhost:9000"],
    "http issuer acknowledged (docker backend)": [
        "api-service.oauth.issuerUrl=http://mock-oauth:9000",
        "api-service.oauth.insecureIssuer=true"],
    "admin for a named subject": [
        "api-service.oauth.subjectScopes.system:serviceaccount:ns:ops=jobs:admin"],
    "route allows plain http with auth off, unexposed": [
        "api-service.oauth.enabled=false",
        "api-service.route.tls.insecureEdgeTerminationPolicy=Allow"],
}


@pytest.mark.parametrize("sets", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted(sets: list[str]) -> None:
    render(set_values=sets, release="ok")


def test_scenarios_render_as_the_simulator_renders_them() -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        scenario = yaml.safe_load(path.read_text())
        sets = list(scenario.get("set") or []) + [
            "api-service.oauth.issuerUrl=http://127.0.3.4:9000",
            "api-service.oauth.audience=spark-stack-api"]
        if scenario.get("externalSpark"):
            sets.append("api-service.env.sparkMasterUrl=spark://127.0.5.6:7077")
        render(values=scenario.get("values") or {}, set_values=sets,
               release=scenario["release"])


# --- least privilege and secrets (issue 9 items 4 and 5) ----------------------------------------

def _api_pod(r: Rendered) -> dict[str, Any]:
    [w] = [w for w in workloads(r) if chart_of(w) == "api-service"]
    return pod_spec(w)


def test_openshift_proxy_mode_least_privilege() -> None:
    r = render(release="rel", openshift=True, set_values=["api-service.oauth.mode=openshift-proxy"])
    spec = _api_pod(r)
    assert spec["automountServiceAccountToken"] is False
    by_name = {c["name"]: c for c in spec["containers"]}
    proxy, api = by_name["oauth-proxy"], by_name["api"]
    assert not any(a.startswith("--pass-access-token") for a in proxy["args"])
    sar = [a for a in proxy["args"] if a.startswith("--openshift-sar=")]
    assert '"subresource":"proxy"' in sar[0] and '"resource":"services"' in sar[0]
    volumes = {v["name"]: v for v in spec["volumes"]}
    token_volumes = {v["name"] for v in spec["volumes"]
                     if any("serviceAccountToken" in s for s in (v.get("projected") or {}).get(
                         "sources", []))}
    assert token_volumes == {"proxy-sa-token"}
    assert [m["mountPath"] for m in proxy["volumeMounts"] if m["name"] == "proxy-sa-token"] == [
        "/var/run/secrets/kubernetes.io/serviceaccount"]
    assert all(m["name"] not in token_volumes for m in api["volumeMounts"])
    assert volumes["proxy-sa-token"]["projected"]["sources"][0]["serviceAccountToken"][
        "expirationSeconds"] <= 3600


def test_no_secret_reaches_a_container_through_its_environment() -> None:
    for openshift, sets in ((False, []), (True, ["api-service.oauth.mode=openshift-proxy"])):
        r = render(release="rel", openshift=openshift, set_values=sets)
        for w in workloads(r, hooks=True):
            for c in containers(pod_spec(w)):
                for e in c.get("env") or []:
                    assert "secretKeyRef" not in (e.get("valueFrom") or {}), (c["name"], e)


def test_owner_secret_is_a_read_only_file() -> None:
    r = render(release="rel", set_values=["api-service.ownerSecret.key=hmac"])
    spec = _api_pod(r)
    [api] = [c for c in spec["containers"] if c["name"] == "api"]
    path = env_value(api, "SPARK_API_OWNER_SECRET_FILE")
    assert env_value(api, "SPARK_API_OWNER_SECRET") is None
    [mount] = [m for m in api["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
    assert mount["readOnly"] is True
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "rel-api-service-owner"
    assert volume["secret"]["items"] == [{"key": "hmac", "path": path.rsplit("/", 1)[1]}]
    assert volume["secret"]["defaultMode"] & 0o007 == 0  # not world-readable
