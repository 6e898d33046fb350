"""The kind backend's plan, checked here where no kind cluster can run (no `kindest/node` image
can be pulled on these machines; the nightly CI runs it for real). `up --dry-run` prints every
command it would run; these tests hold it to the specification: the helm line IS the
specification's command for each scenario, the images loaded are the ones built from images/,
secrets never appear, and `down` deletes the cluster. Without the tools, `up` exits 2 naming
each missing one."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = {  # scenario -> the specification's command (release and --sets)
    "full-stack": "helm install full-stack ./deploy/charts",
    "spark-only": "helm install spark-cluster ./deploy/charts --set tags.install-service=false",
    "service-only": "helm install my-service ./deploy/charts --set tags.install-spark=false "
                    "--set api-service.env.sparkMasterUrl=spark://external-master:7077",
}


def sim(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO,
                          env=env or dict(os.environ, PYTHONPATH=str(REPO)))


def commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in stdout.splitlines() if line.startswith("$ ")]


def _sets(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """scenario -> (stdout of `up --dry-run`, stdout of `down RUN_ID`)."""
    runs = tmp_path_factory.mktemp("kind-runs")
    env = dict(os.environ, PYTHONPATH=str(REPO), SPARK_STACK_RUNS_DIR=str(runs))
    out = {}
    for name in SPEC:
        up = sim("up", name, "--backend", "kind", "--dry-run", env=env)
        assert up.returncode == 0, up.stderr
        run_id = next(p.name for p in runs.iterdir() if p.name.startswith(name + "-"))
        down = sim("down", run_id, env=env)
        assert down.returncode == 0, down.stderr
        out[name] = (up.stdout, down.stdout)
    return out


@pytest.mark.parametrize("name", list(SPEC))
def test_the_helm_line_is_the_specifications_command(plans, name):
    helm = [c for c in commands(plans[name][0]) if c[:1] == ["helm"] and "upgrade" in c]
    assert len(helm) == 1, helm
    argv = helm[0]
    spec = shlex.split(SPEC[name])
    release, chart = spec[2], spec[3]
    assert argv[:5] == ["helm", "upgrade", "--install", release, chart]
    # the specification's own --sets come first, verbatim, in its order
    assert argv[5:5 + len(spec) - 4] == spec[4:]
    assert argv[-3:] == ["--wait", "--timeout", "10m"]
    # then what the simulator adds: the mock OAuth issuer and the owner Secret, never a secret
    sets = _sets(argv)
    assert "api-service.oauth.issuerUrl=http://mock-oauth:9000" in sets
    assert f"api-service.ownerSecret.existingSecret={release}-owner-secret" in sets


@pytest.mark.parametrize("name", list(SPEC))
def test_the_images_loaded_are_the_ones_built(plans, name):
    cmds = commands(plans[name][0])
    built = [c[c.index("-t") + 1] for c in cmds if c[:2] == ["docker", "build"]]
    loaded = [c[3] for c in cmds if c[:3] == ["kind", "load", "docker-image"]]
    assert built == loaded and {t.split(":")[0] for t in built} == {
        "spark-stack/spark-job", "spark-stack/api-service", "spark-stack/mock-oauth"}
    create = next(c for c in cmds if c[:3] == ["kind", "create", "cluster"])
    cluster = create[create.index("--name") + 1]
    assert all(c[c.index("--name") + 1] == cluster for c in cmds
               if c[:3] == ["kind", "load", "docker-image"])
    # the cluster is created before anything is loaded into it or applied to it
    assert cmds.index(create) == 0


@pytest.mark.parametrize("name", list(SPEC))
def test_down_deletes_the_cluster(plans, name):
    up_cmds, down_cmds = commands(plans[name][0]), commands(plans[name][1])
    create = next(c for c in up_cmds if c[:3] == ["kind", "create", "cluster"])
    assert ["kind", "delete", "cluster", "--name", create[create.index("--name") + 1]] in \
        down_cmds


def test_secrets_come_from_files_and_never_show(plans):
    stdout = plans["full-stack"][0]
    secret_cmds = [c for c in commands(stdout) if c[3:6] == ["create", "secret", "generic"]]
    assert len(secret_cmds) == 2  # the owner Secret and the mock OAuth's clients
    assert all(any(a.startswith("--from-file=") for a in c) for c in secret_cmds)
    assert "--from-literal" not in stdout and '"secret"' not in stdout


def test_values_files_are_printed_with_the_plan(plans):
    stdout = plans["full-stack"][0]
    assert "scenario-values.yaml ---" in stdout and "memory: 512m" in stdout


def test_without_the_tools_up_exits_2_naming_each(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {"PATH": str(bin_dir), "PYTHONPATH": str(REPO), "HOME": str(tmp_path),
           "SPARK_STACK_RUNS_DIR": str(tmp_path / "runs")}
    result = sim("up", "spark-only", "--backend", "kind", env=env)
    assert result.returncode == 2, result.stderr
    for tool in ("kind", "helm", "kubectl", "docker"):
        assert f"{tool}: not on PATH; install:" in result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_is_refused_where_it_would_run_for_real(tmp_path):
    runs = tmp_path / "runs"
    result = sim("up", "spark-only", "--backend", "process", "--dry-run",
                 env=dict(os.environ, PYTHONPATH=str(REPO), SPARK_STACK_RUNS_DIR=str(runs)))
    assert result.returncode == 2 and "kind backend" in result.stderr
    assert not runs.exists() or not any(runs.iterdir()), "refused before anything was made"
