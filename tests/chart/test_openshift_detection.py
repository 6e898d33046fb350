"""OpenShift is detected from either API-version spelling, and the value forces it either way.

`helm template --api-versions route.openshift.io/v1` (the group/version form users pass, and the
form Bitnami's charts check) must switch OpenShift mode on just like a live cluster's discovery,
which reports `route.openshift.io/v1` and `route.openshift.io/v1/Route` both.
"""
from __future__ import annotations

from typing import Any

import pytest

from simulator.render import Rendered, render

from .chartlib import containers, pod_spec, workloads

FIXED_IDS = ("runAsUser", "runAsGroup", "fsGroup")


def _fixed_ids(rendered: Rendered) -> list[str]:
    found = []
    for w in workloads(rendered, hooks=True):
        spec = pod_spec(w)
        found += [f"{w['metadata']['name']}: pod {k}" for k in FIXED_IDS
                  if k in (spec.get("securityContext") or {})]
        for c in containers(spec):
            found += [f"{w['metadata']['name']}/{c['name']}: {k}" for k in FIXED_IDS
                      if k in (c.get("securityContext") or {})]
    return found


def _render(api_versions: list[str], sets: list[str] = ()) -> Rendered:
    return render(set_values=list(sets), release="os", api_versions=api_versions)


@pytest.mark.parametrize("apis", [
    ["route.openshift.io/v1"],
    ["route.openshift.io/v1/Route"],
    ["route.openshift.io/v1", "route.openshift.io/v1/Route"],
], ids=["group-version", "kind-qualified", "both"])
def test_route_api_in_either_form_renders_a_route_and_no_fixed_ids(apis: list[str]) -> None:
    r = _render(apis)
    assert len(r.objects("Route")) == 1
    assert r.objects("Ingress") == []
    assert _fixed_ids(r) == []


@pytest.mark.parametrize("apis", [
    ["security.openshift.io/v1"],
    ["security.openshift.io/v1/SecurityContextConstraints"],
], ids=["group-version", "kind-qualified"])
def test_scc_api_in_either_form_drops_fixed_ids(apis: list[str]) -> None:
    r = _render(apis)
    assert _fixed_ids(r) == []
    assert r.objects("Route") == []  # no Route API: nothing to expose through


def test_plain_kubernetes_keeps_fixed_ids() -> None:
    r = _render([])
    assert _fixed_ids(r) != []
    assert r.objects("Route") == []


@pytest.mark.parametrize("forced,apis,openshift", [
    ("false", ["route.openshift.io/v1", "security.openshift.io/v1"], False),
    ("true", [], True),
], ids=["forced-off-on-openshift", "forced-on-elsewhere"])
def test_the_value_forces_either_way(forced: str, apis: list[str], openshift: bool) -> None:
    r = _render(apis, [f"global.openshift={forced}"])
    assert (_fixed_ids(r) == []) is openshift


def _uids(rendered: Rendered) -> dict[str, Any]:
    return {w["metadata"]["name"]: (pod_spec(w).get("securityContext") or {}).get("runAsUser")
            for w in workloads(rendered, hooks=True)}


def test_kubernetes_uids_are_the_images_users() -> None:
    uids = _uids(_render([]))
    assert uids["os-spark-master"] == 185 and uids["os-api-service"] == 10001
