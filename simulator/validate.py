"""Strict validation of every rendered object.

Kubernetes kinds use the strict JSON Schemas that `kubernetes-validate` ships (offline, 1.25-1.37);
OpenShift's Route uses the project's own schema (``schemas/``), written from the upstream CRD.
Unlike ``kubernetes_validate.validate``, which stops at the first error and only *warns* for an
unknown kind, this module reports every error of every object and treats a kind without a
schema as a failure. Validators are built once per (version, kind) and cached: building one
costs more than validating a document with it; an object met again (the same defaults rendered
by many tests) is not validated again.
"""
from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils as kv
from referencing import Registry, Resource

_OWN_SCHEMAS = {
    ("route.openshift.io/v1", "Route"): Path(__file__).with_name("schemas")
    / "route.openshift.io-v1-route.json",
}


# Verdicts kept per process (oldest dropped first): a few hundred renders' worth of objects.
MAX_VERDICTS = 4096
_verdicts: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
_verdicts_lock = threading.Lock()


@dataclass(frozen=True)
class ValidationIssue:
    """One problem with one object, located by JSON path."""

    kind: str
    name: str
    path: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"{self.kind}/{self.name}{where}: at '{self.path}': {self.message}"


def check_kube_version(kube_version: str) -> None:
    """Refuse a Kubernetes version outside the schema sets kubernetes-validate ships."""
    _schema_version(kube_version)


def _schema_version(kube_version: str) -> str:
    """The newest schema set not newer than the requested Kubernetes version."""
    wanted = kv.Version(kv.major_minor(kube_version.lstrip("v").split("-")[0].split("+")[0]))
    ours = sorted(kv.all_versions(), key=lambda v: kv.Version(kv.major_minor(v)))
    oldest, newest = kv.major_minor(ours[0]), kv.major_minor(ours[-1])
    fitting = [v for v in ours if kv.Version(kv.major_minor(v)) <= wanted]
    if wanted > kv.Version(newest) or not fitting:
        raise ValueError(f"Kubernetes {kube_version} is outside the versions whose schemas "
                         f"kubernetes-validate ships ({oldest} to {newest}): pick a "
                         f"--kube-version in that range, or render with --skip-validation")
    return fitting[-1]


@functools.lru_cache(maxsize=None)
def _k8s_definitions(schema_dir: str) -> Resource:
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema" / schema_dir
    return Resource.from_contents(json.loads((root / "_definitions.json").read_text()))


@functools.lru_cache(maxsize=None)
def _validator(api_version: str, kind: str, kube_version: str) -> jsonschema.Validator | None:
    own = _OWN_SCHEMAS.get((api_version, kind))
    if own is not None:
        return jsonschema.Draft202012Validator(json.loads(own.read_text()))
    schema_dir = f"v{_schema_version(kube_version)}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = (resources.files("kubernetes_validate") / "kubernetes-json-schema" / schema_dir
            / f"{kind.lower()}-{group}.json")
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    registry: Registry = Resource.from_contents(schema) @ Registry()
    registry = _k8s_definitions(schema_dir) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_object(obj: dict[str, Any], kube_version: str, source: str = "") -> list[ValidationIssue]:
    """Every schema error of one object; a kind with no known schema is an error too."""
    kind = str(obj.get("kind", ""))
    name = str((obj.get("metadata") or {}).get("name", "?"))
    api_version = str(obj.get("apiVersion", ""))
    validator = _validator(api_version, kind, kube_version)
    if validator is None:
        return [ValidationIssue(kind, name, "/", f"no schema for {api_version} {kind} in "
                                f"Kubernetes {kube_version} (unknown kind or API version)",
                                source)]
    return [ValidationIssue(kind, name, path, message, source)
            for path, message in _errors(validator, obj, kube_version)]


def _errors(validator: jsonschema.Validator, obj: dict[str, Any],
            kube_version: str) -> tuple[tuple[str, str], ...]:
    """(path, message) of every error; an object seen before in this process is not validated
    again: its verdict is kept under its exact ``repr`` (types and order included)."""
    key = (kube_version, repr(obj))
    with _verdicts_lock:
        known = _verdicts.get(key)
    if known is not None:
        return known
    errors = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = "/" + "/".join(str(p) for p in err.absolute_path)
        # A rule written as `not` (Route's CEL rules) says what it forbids in its description.
        described = err.validator == "not" and isinstance(err.schema, dict)
        message = err.schema.get("description", err.message) if described else err.message
        errors.append((path, message))
    with _verdicts_lock:
        _verdicts[key] = verdict = tuple(errors)
        while len(_verdicts) > MAX_VERDICTS:
            _verdicts.pop(next(iter(_verdicts)))
    return verdict


def validate_all(manifests: list[Any], kube_version: str) -> list[ValidationIssue]:
    """Validate rendered manifests (``render.Manifest`` or plain dicts); returns all issues."""
    issues: list[ValidationIssue] = []
    for m in manifests:
        obj, source = (m.obj, m.source) if hasattr(m, "obj") else (m, "")
        issues.extend(validate_object(obj, kube_version, source))
    return issues
