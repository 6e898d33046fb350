"""Helpers for reading rendered manifests in the chart tests (no assertions here)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from simulator.render import Rendered

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "Pod")


def chart_of(obj: dict[str, Any]) -> str:
    """The subchart an object came from, by its `helm.sh/chart` label (`name-version`)."""
    label = (obj.get("metadata", {}).get("labels") or {}).get("helm.sh/chart", "")
    return label.rsplit("-", 1)[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] in WORKLOAD_KINDS:
        return obj["spec"]["template"]["spec"]
    return None


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "Pod":
        return obj["metadata"].get("labels") or {}
    return obj["spec"]["template"]["metadata"].get("labels") or {}


def workloads(rendered: Rendered, *, hooks: bool = False) -> list[dict[str, Any]]:
    return [m.obj for m in rendered.manifests
            if m.kind in WORKLOAD_KINDS and (hooks or not m.is_hook)]


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def env_value(container: dict[str, Any], name: str) -> str | None:
    for env in container.get("env") or []:
        if env["name"] == name:
            return env.get("value")
    return None


def component(obj: dict[str, Any]) -> str:
    return (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component", "")


def find(rendered: Rendered, kind: str, component_name: str | None = None) -> list[dict]:
    return [o for o in rendered.objects(kind, hooks=False)
            if component_name is None or component(o) == component_name]
