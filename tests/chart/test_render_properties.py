"""Property-based render tests over generated values (real Helm engine, strict validation).

Each example renders the umbrella chart once; `render()` already refuses any object that fails
strict schema validation, so every example also checks "every object passes validation".
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, strategies as st

from simulator.render import Rendered, RenderError, render

from .chartlib import (chart_of, containers, env_value, find, pod_labels, pod_spec,
                       workloads)

# Helm release names: DNS-1123 label, at most 53 characters; with Spark installed at most 50,
# because the master Service must be exactly `<release>-spark-master` (63 at most).
release_names = st.from_regex(r"[a-z]([a-z0-9-]{0,48}[a-z0-9])?", fullmatch=True)
long_release_names = st.from_regex(r"[a-z][a-z0-9-]{49,51}[a-z0-9]", fullmatch=True)
hostnames = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]([a-z0-9-]{0,10}[a-z0-9])?){0,2}",
                          fullmatch=True)
external_urls = st.builds(lambda h, p: f"spark://{h}:{p}", hostnames, st.integers(1, 65535))


@st.composite
def stacks(draw: st.DrawFn) -> dict[str, Any]:
    """A release: which tags are on, how many workers, replicas, OpenShift or not."""
    scenario = draw(st.sampled_from(["full-stack", "spark-only", "service-only"]))
    values: dict[str, Any] = {
        "tags": {"install-spark": scenario != "service-only",
                 "install-service": scenario != "spark-only"},
        "spark-job": {"spark": {"worker": {"replicas": draw(st.integers(0, 12))}}},
        "api-service": {"replicaCount": draw(st.integers(1, 4))},
    }
    if draw(st.booleans()):
        values["api-service"]["ingress"] = {"host": draw(hostnames)}
    master_url = None
    if scenario == "service-only":
        master_url = draw(external_urls)
        values["api-service"]["env"] = {"sparkMasterUrl": master_url}
    return {"scenario": scenario, "values": values, "release": draw(release_names),
            "openshift": draw(st.booleans()), "master_url": master_url}


def _render(stack: dict[str, Any]) -> Rendered:
    return render(values=stack["values"], release=stack["release"], openshift=stack["openshift"])


@given(stacks())
def test_subchart_objects_exist_iff_tag_on(stack: dict[str, Any]) -> None:
    rendered = _render(stack)
    charts = {chart_of(m.obj) for m in rendered.manifests}
    tags = stack["values"]["tags"]
    assert ("spark-job" in charts) == tags["install-spark"]
    assert ("api-service" in charts) == tags["install-service"]
    assert charts <= {"spark-job", "api-service", "spark-stack"}, charts


@given(stacks())
def test_worker_replicas_equal_the_value(stack: dict[str, Any]) -> None:
    rendered = _render(stack)
    workers = find(rendered, "Deployment", "worker")
    if not stack["values"]["tags"]["install-spark"]:
        assert workers == []
        return
    assert len(workers) == 1
    assert workers[0]["spec"]["replicas"] == stack["values"]["spark-job"]["spark"]["worker"]["replicas"]
    assert [d["spec"]["replicas"] for d in find(rendered, "Deployment", "master")] == [1]


@given(stacks())
def test_master_url_points_at_the_release_master_or_the_given_url(stack: dict[str, Any]) -> None:
    rendered = _render(stack)
    expected = stack["master_url"] or f"spark://{stack['release']}-spark-master:7077"
    urls = []
    for w in find(rendered, "Deployment", "worker"):
        urls += [env_value(c, "SPARK_MASTER_URL") for c in containers(pod_spec(w))]
    for api in [o for o in workloads(rendered) if chart_of(o) == "api-service"]:
        urls += [env_value(c, "SPARK_API_MASTER_URL") for c in pod_spec(api)["containers"]
                 if env_value(c, "SPARK_API_MASTER_URL") is not None]
    scenario = stack["scenario"]
    # One worker Deployment (even at 0 replicas) and one API container carry the URL.
    expected_count = int(scenario != "service-only") + int(scenario != "spark-only")
    assert urls == [expected] * expected_count
    if scenario != "service-only":
        services = {s["metadata"]["name"]: s for s in rendered.objects("Service", hooks=False)}
        master = services[f"{stack['release']}-spark-master"]
        assert master["spec"].get("clusterIP") == "None"
        assert 7077 in [p["port"] for p in master["spec"]["ports"]]


@given(stacks())
def test_every_service_selects_a_pod_template(stack: dict[str, Any]) -> None:
    rendered = _render(stack)
    templates = [pod_labels(w) for w in workloads(rendered)]
    for svc in rendered.objects("Service", hooks=False):
        selector = svc["spec"].get("selector") or {}
        assert selector, f"Service {svc['metadata']['name']} has no selector"
        assert any(selector.items() <= labels.items() for labels in templates), (
            f"Service {svc['metadata']['name']} selects {selector}: no pod template matches")
        # Named target ports must exist on the selected pods' containers.
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if isinstance(target, str):
                names = {p.get("name") for w in workloads(rendered)
                         if selector.items() <= pod_labels(w).items()
                         for c in pod_spec(w)["containers"] for p in c.get("ports") or []}
                assert target in names, f"{svc['metadata']['name']}: no port named {target}"


@given(stacks())
def test_every_name_fits_63_characters(stack: dict[str, Any]) -> None:
    rendered = _render(stack)
    for m in rendered.manifests:
        assert 0 < len(m.name) <= 63, f"{m.kind} {m.name!r} ({len(m.name)} chars)"
        for c in containers(pod_spec(m.obj) or {}):
            assert len(c["name"]) <= 63
            for p in c.get("ports") or []:
                assert len(p.get("name", "")) <= 15  # IANA_SVC_NAME


def _assert_restricted_v2(obj: dict[str, Any], openshift: bool) -> None:
    """OpenShift's restricted-v2 SCC (and Kubernetes' restricted Pod Security Standard)."""
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    spec = pod_spec(obj)
    pod_sc = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(key), f"{name}: {key}"
    for vol in spec.get("volumes") or []:
        assert "hostPath" not in vol, f"{name}: hostPath volume {vol['name']}"
    if openshift:
        # restricted-v2 assigns UID, GID and fsGroup from the namespace range: fixed ones fail.
        for key in ("runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"):
            assert key not in pod_sc, f"{name}: fixed pod {key} on OpenShift"
    for c in containers(spec):
        sc = c.get("securityContext") or {}
        where = f"{name} container {c['name']}"
        assert sc.get("allowPrivilegeEscalation") is False, where
        assert not sc.get("privileged"), where
        assert (sc.get("capabilities") or {}).get("drop") == ["ALL"], where
        assert not (sc.get("capabilities") or {}).get("add"), where
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        assert seccomp == "RuntimeDefault", where
        if openshift:
            assert "runAsUser" not in sc and "runAsGroup" not in sc, where
        else:
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            assert uid is None or uid > 0, where
        for p in c.get("ports") or []:
            assert p["containerPort"] >= 1024, f"{where}: port {p['containerPort']} < 1024"
            assert "hostPort" not in p, where


@given(stacks())
def test_every_container_is_restricted_v2_compliant(stack: dict[str, Any]) -> None:
    rendered = _render(stack)
    for w in workloads(rendered, hooks=True):
        _assert_restricted_v2(w, stack["openshift"])


@given(stacks())
def test_route_iff_openshift_else_ingress(stack: dict[str, Any]) -> None:
    rendered = _render(stack)
    routes = rendered.objects("Route")
    ingresses = rendered.objects("Ingress")
    if not stack["values"]["tags"]["install-service"]:
        assert routes == [] and ingresses == []
    elif stack["openshift"]:
        assert len(routes) == 1 and ingresses == []
        assert routes[0]["spec"]["tls"]["termination"] in ("edge", "reencrypt")
    elif stack["values"]["api-service"].get("ingress", {}).get("host"):
        assert routes == [] and len(ingresses) == 1
        assert ingresses[0]["spec"]["rules"][0]["host"] == (
            stack["values"]["api-service"]["ingress"]["host"])
    else:  # no Route API and no host to route by: nothing is exposed outside the cluster
        assert routes == [] and ingresses == []


@given(st.sampled_from(["route", "ingress", "none"]), st.booleans())
def test_exposure_can_be_forced_either_way(expose: str, openshift: bool) -> None:
    rendered = render(values={"api-service": {"expose": {"type": expose},
                                              "ingress": {"host": "jobs.example.test"}}},
                      release="forced", openshift=openshift)
    assert len(rendered.objects("Route")) == (expose == "route")
    assert len(rendered.objects("Ingress")) == (expose == "ingress")


@given(long_release_names)
def test_a_release_name_too_long_for_the_master_service_is_refused_with_the_fix(name: str) -> None:
    with pytest.raises(RenderError) as refused:
        render(release=name, set_values=["tags.install-service=false"])
    assert "at most 50 characters" in str(refused.value)
    # Without Spark the name is free up to Helm's own limit of 53.
    render(release=name, set_values=["tags.install-spark=false",
                                      "api-service.env.sparkMasterUrl=spark://m:7077"])
