"""Render the chart with the real Helm v4 engine, in-process (helm-python-sdk).

The one place that touches helm-python-sdk's private native call, which is the only way to pass a
Kubernetes version and extra API versions (``Chart.render()`` has no such parameters). The package
is pinned exactly in pyproject.toml for that reason. The sharp edges handled here were all
observed:

- a render removes tag-disabled subcharts from the loaded chart, so the chart is loaded fresh for
  every render; Helm's values-schema check, most of a render's cost, runs once per set of values
  (``simulator/chartload.py``);
- a subchart declared in Chart.yaml but missing from ``charts/`` is skipped silently, so the
  dependency list is checked first;
- the output holds NOTES.txt and empty documents for switched-off templates: both are filtered
  (NOTES.txt is returned separately, as ``helm install`` prints it);
- the engine does not check the chart's ``kubeVersion``: done here, with Helm's message.

What the helm CLI does around the engine is reproduced here too, and compared with the real CLI
(helm 4 and 3) by tests/chart/test_helm_cli.py: values merged in ``MergeValues``' order with the
``--set`` family parsed *into* the merged map (``simulator/strvals.py``), and the output in
``helm template``'s order. One known difference: the engine receives values as JSON and reads
every number as a float64, where the CLI keeps ``--set`` integers as int64; a template that
prints such a value unformatted shows ``1e+06`` for ``--set x=1000000`` here and ``1000000``
with the CLI (below a million both print the same).
"""
from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import yaml
from helm_python import _native

# libyaml's parser when PyYAML has it: the pure-Python one costs more than Helm's whole render.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

from simulator import chartload, semver, strvals
from simulator.validate import ValidationIssue, check_kube_version, validate_all

DEFAULT_KUBE_VERSION = "v1.33.0"
DEFAULT_NAMESPACE = "default"

# What an OpenShift 4 cluster serves on top of Kubernetes that the chart asks about. Helm's
# Capabilities.APIVersions.Has matches "group/version" and "group/version/Kind" separately,
# so both spellings are listed, as a real cluster's discovery would report them.
OPENSHIFT_API_VERSIONS: tuple[str, ...] = (
    "route.openshift.io/v1",
    "route.openshift.io/v1/Route",
    "security.openshift.io/v1",
    "security.openshift.io/v1/SecurityContextConstraints",
    "config.openshift.io/v1",
    "image.openshift.io/v1",
)

# Helm's own install order (pkg/release/v1/util/kind_sorter.go, InstallOrder): `helm template`
# prints manifests in this order, then the hooks in the same order, and so do we.
_INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]
_ORDER = {kind: i for i, kind in enumerate(_INSTALL_ORDER)}

CHART_DIR = Path(__file__).resolve().parent.parent / "chart"


class RenderError(Exception):
    """The chart could not be rendered: bad values, a schema refusal, a template error.

    ``str()`` is Helm's own message, which names the offending field
    (e.g. ``- at '/spark-job/spark/worker/replicas': minimum: got -1, want 0``).
    """


class InvalidManifests(RenderError):
    """The chart rendered, but objects a cluster would refuse came out (a chart bug)."""

    def __init__(self, issues: list[ValidationIssue]):
        self.issues = issues
        super().__init__("rendered objects fail validation:\n"
                         + "\n".join(f"  {issue}" for issue in issues))


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object and the template it came from."""

    source: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))

    @property
    def is_hook(self) -> bool:
        """Helm hooks (the `helm test` pod) are not part of the installed release."""
        annotations = self.obj.get("metadata", {}).get("annotations") or {}
        return "helm.sh/hook" in annotations


@dataclass
class Rendered:
    """Everything one render produced."""

    manifests: list[Manifest]
    notes: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def objects(self, kind: str | None = None, *, hooks: bool = True) -> list[dict[str, Any]]:
        return [m.obj for m in self.manifests
                if (kind is None or m.kind == kind) and (hooks or not m.is_hook)]

    def to_yaml(self) -> str:
        """The manifests as `helm template` prints them."""
        parts = []
        for m in self.manifests:
            parts.append(f"---\n# Source: {m.source}\n"
                         + yaml.safe_dump(m.obj, sort_keys=False, default_flow_style=False))
        return "".join(parts)


# How `-f` files combine (loader.MergeMaps); the name callers know.
deep_merge = strvals.merge_maps


def user_values(values_files: Iterable[str | os.PathLike[str]] = (),
                set_values: Iterable[str] = (),
                set_string_values: Iterable[str] = (),
                *,
                set_json_values: Iterable[str] = (),
                set_file_values: Iterable[str] = (),
                values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The user-supplied values as the helm CLI merges them (pkg/cli/values/options.go).

    ``-f`` files deep-merged in order, then ``values`` (the simulator's structured values), then
    every ``--set-json``, ``--set``, ``--set-string`` and ``--set-file`` parsed *into* what is
    merged so far, in that order, by Helm's strvals rules (``simulator/strvals.py``).
    """
    merged: dict[str, Any] = {}
    for path in values_files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RenderError(f"values file {path}: {exc.strerror}") from exc
        try:
            merged = deep_merge(merged, helm_python.values_from_yaml(text) or {})
        except helm_python.HelmError as exc:
            raise RenderError(f"values file {path}: {exc}") from exc
    if values:
        merged = deep_merge(merged, copy.deepcopy(values))  # the parsers below write in place
    steps = (("--set-json", set_json_values, strvals.parse_json_into),
             ("--set", set_values, strvals.parse_into),
             ("--set-string", set_string_values,
              lambda expr, dest: strvals.parse_into(expr, dest, as_string=True)),
             ("--set-file", set_file_values, strvals.parse_file_into))
    for flag, expressions, parse_into in steps:
        for expr in expressions:
            try:
                merged = parse_into(expr, merged)
            except strvals.StrvalsError as exc:
                raise RenderError(f"failed parsing {flag} data {expr!r}: {exc}") from exc
    return merged


def kube_version_of(text: str) -> str:
    """``--kube-version`` as Helm normalizes it: ``1.24`` is ``v1.24.0``."""
    try:
        return f"v{semver.Version.parse(text)}"
    except semver.SemverError as exc:
        raise RenderError(f"invalid kube version '{text}': {exc}") from exc


def check_kube_version_constraint(chart_dir: str | os.PathLike[str], kube_version: str) -> None:
    """Refuse a Kubernetes version the chart's ``kubeVersion`` excludes, in Helm's words."""
    try:
        meta = yaml.load(Path(chart_dir, "Chart.yaml").read_text(encoding="utf-8"),
                         Loader=_YamlLoader) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RenderError(f"chart {chart_dir}: cannot read Chart.yaml: {exc}") from exc
    constraint = str(meta.get("kubeVersion") or "")
    if not constraint:
        return
    try:
        ok = semver.satisfies(kube_version, constraint)
    except semver.SemverError:
        ok = False  # Helm's IsCompatibleRange: an unparsable constraint is incompatible
    if not ok:
        raise RenderError(f"chart requires kubeVersion: {constraint} which is incompatible with "
                          f"Kubernetes {kube_version}")


def check_dependencies(chart_dir: str | os.PathLike[str]) -> None:
    """Refuse a chart whose declared subcharts are not all present (Helm would skip them)."""
    for dep in helm_python.dependency_list(os.fspath(chart_dir)):
        if dep.get("status") not in ("ok", "unpacked"):
            raise RenderError(f"chart {chart_dir}: dependency {dep.get('name')!r} is "
                              f"{dep.get('status')}; it must be under charts/")


def render(chart_dir: str | os.PathLike[str] = CHART_DIR,
           values_files: Sequence[str | os.PathLike[str]] = (),
           set_values: Sequence[str] = (),
           *,
           values: dict[str, Any] | None = None,
           set_string_values: Sequence[str] = (),
           set_json_values: Sequence[str] = (),
           set_file_values: Sequence[str] = (),
           release: str = "release",
           namespace: str = DEFAULT_NAMESPACE,
           kube_version: str = DEFAULT_KUBE_VERSION,
           openshift: bool = False,
           api_versions: Sequence[str] = (),
           is_upgrade: bool = False,
           validate: bool = True) -> Rendered:
    """Render ``chart_dir`` like ``helm template`` and return the parsed objects.

    Values are merged as the helm CLI merges them (``user_values``); ``values`` (a dict) comes
    after the files and before the ``--set`` family, so the simulator can pass structured values
    without string-quoting them. The chart's ``kubeVersion`` is enforced as Helm does. With
    ``validate`` (the default) ``kube_version`` must be one the bundled schemas cover, and every
    object, hooks included, must pass strict schema validation, or ``InvalidManifests`` lists
    every problem.
    """
    try:
        helm_python.validate_release_name(release)
    except helm_python.HelmError as exc:
        raise RenderError(f"release name {release!r}: {exc}") from exc
    kube_version = kube_version_of(kube_version)
    chartload.check_once(chart_dir, check_dependencies)
    merged = user_values(values_files, set_values, set_string_values,
                         set_json_values=set_json_values, set_file_values=set_file_values,
                         values=values)
    check_kube_version_constraint(chart_dir, kube_version)
    if validate:
        try:
            check_kube_version(kube_version)
        except ValueError as exc:
            raise RenderError(str(exc)) from exc
    apis = list(api_versions) + (list(OPENSHIFT_API_VERSIONS) if openshift else [])
    opts = {"name": release, "namespace": namespace, "kube_version": kube_version,
            "api_versions": apis, "is_install": not is_upgrade, "is_upgrade": is_upgrade}
    # Loaded fresh each time (a render drops tag-disabled subcharts from the loaded chart);
    # Helm checks the values against the schemas once per set of values (simulator/chartload.py).
    values_json = json.dumps(merged, sort_keys=True)
    chart, accepted = chartload.load(chart_dir, values_json)
    try:
        raw = _native.call_string("helm_render", chart._raw(), values_json, json.dumps(opts))
    except helm_python.HelmError as exc:
        raise RenderError(str(exc)) from exc
    finally:
        chart.close()
    accepted()
    templates = json.loads(raw)
    rendered = Rendered(manifests=_parse(templates), notes=_notes(templates), values=merged)
    if validate:
        issues = validate_all(rendered.manifests, kube_version)
        if issues:
            raise InvalidManifests(issues)
    return rendered


def _notes(templates: dict[str, str]) -> str:
    return "".join(text for path, text in sorted(templates.items())
                   if path.endswith("NOTES.txt") and path.count("/templates/") == 1
                   and "/charts/" not in path)


def _parse(templates: dict[str, str]) -> list[Manifest]:
    """The objects in ``helm template``'s order (pkg/release/v1/util/manifest_sorter.go).

    Files by path, documents in file order, then a stable sort by InstallOrder (kinds it does
    not list after those it does, by name); hooks after all the other manifests, sorted alike.
    """
    manifests: list[Manifest] = []
    for path in sorted(templates):
        text = templates[path]
        if path.endswith("NOTES.txt") or path.rsplit("/", 1)[-1].startswith("_"):
            continue
        try:
            docs = list(yaml.load_all(text, Loader=_YamlLoader))
        except yaml.YAMLError as exc:
            raise RenderError(f"{path} rendered invalid YAML: {exc}") from exc
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc:
                raise RenderError(f"{path} rendered something that is not a Kubernetes object")
            manifests.append(Manifest(source=path, obj=doc))
    manifests.sort(key=lambda m: (m.is_hook, m.kind not in _ORDER, _ORDER.get(m.kind, 0),
                                  "" if m.kind in _ORDER else m.kind))
    return manifests


def lint(chart_dir: str | os.PathLike[str] = CHART_DIR, values: dict[str, Any] | None = None,
         *, kube_version: str = DEFAULT_KUBE_VERSION) -> list[str]:
    """Lint the umbrella and every subchart (``with_subcharts`` does not reach them).

    Returns the findings of severity warning or error as readable lines; empty when clean.
    """
    root = Path(chart_dir)
    findings: list[str] = []
    dirs = [root] + sorted(p for p in (root / "charts").iterdir() if (p / "Chart.yaml").exists())
    for path in dirs:
        sub_values = values if path == root else (values or {}).get(path.name)
        report = helm_python.lint(os.fspath(path), sub_values, strict=True,
                                  kube_version=kube_version)
        for msg in report.get("messages", []):
            if msg.get("severity", 0) >= 2:
                findings.append(f"{path.name}: {msg.get('path')}: {msg.get('error')}")
        findings.extend(f"{path.name}: {err}" for err in report.get("errors", []))
    return findings
