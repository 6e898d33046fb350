"""The specification's three `helm install` commands, verbatim, through ./deploy/charts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simulator.render import lint, render

from .chartlib import chart_of, component, containers, env_value, find, pod_spec

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "charts"


def test_deploy_charts_is_a_relative_link_to_the_chart() -> None:
    assert DEPLOY.is_symlink()
    assert not Path(DEPLOY.readlink()).is_absolute()
    assert DEPLOY.resolve() == (ROOT / "chart").resolve()


@pytest.mark.parametrize("openshift", [False, True], ids=["kubernetes", "openshift"])
def test_full_stack(openshift: bool) -> None:
    # helm install full-stack ./deploy/charts
    r = render(DEPLOY, release="full-stack", openshift=openshift)
    assert {chart_of(m.obj) for m in r.manifests} >= {"spark-job", "api-service"}
    master = find(r, "Deployment", "master")
    workers = find(r, "Deployment", "worker")
    assert len(master) == 1 and master[0]["spec"]["replicas"] == 1
    assert len(workers) == 1 and workers[0]["spec"]["replicas"] == 4  # the umbrella's override
    svc = {s["metadata"]["name"]: s for s in r.objects("Service", hooks=False)}
    master_svc = svc["full-stack-spark-master"]
    assert master_svc["spec"]["clusterIP"] == "None"
    assert {p["port"] for p in master_svc["spec"]["ports"]} >= {7077, 8080, 6066}
    worker_c = pod_spec(workers[0])["containers"][0]
    assert env_value(worker_c, "SPARK_MASTER_URL") == "spark://full-stack-spark-master:7077"
    api = [o for o in r.objects("Deployment", hooks=False) if chart_of(o) == "api-service"]
    assert len(api) == 1
    api_c = [c for c in pod_spec(api[0])["containers"] if env_value(c, "SPARK_API_MASTER_URL")]
    assert env_value(api_c[0], "SPARK_API_MASTER_URL") == "spark://full-stack-spark-master:7077"
    assert [s["spec"].get("type", "ClusterIP") for s in r.objects("Service", hooks=False)
            if chart_of(s) == "api-service"] == ["ClusterIP"]
    assert len(r.objects("Route")) == (1 if openshift else 0)
    assert r.objects("NetworkPolicy")
    assert "full-stack" in r.notes


def test_spark_cluster_only() -> None:
    # helm install spark-cluster ./deploy/charts --set tags.install-service=false
    r = render(DEPLOY, [], ["tags.install-service=false"], release="spark-cluster")
    assert {chart_of(m.obj) for m in r.manifests} - {"spark-stack"} == {"spark-job"}
    assert len(find(r, "Deployment", "worker")) == 1
    assert "spark-cluster-spark-master" in {s["metadata"]["name"] for s in r.objects("Service")}
    assert r.objects("Route") == [] and r.objects("Ingress") == []


def test_service_only_against_an_external_master() -> None:
    # helm install my-service ./deploy/charts --set tags.install-spark=false
    #   --set api-service.env.sparkMasterUrl="spark://external-master:7077"
    r = render(DEPLOY, [], ["tags.install-spark=false",
                            "api-service.env.sparkMasterUrl=spark://external-master:7077"],
               release="my-service")
    assert {chart_of(m.obj) for m in r.manifests} - {"spark-stack"} == {"api-service"}
    api = r.objects("Deployment", hooks=False)
    assert len(api) == 1
    urls = [env_value(c, "SPARK_API_MASTER_URL") for c in containers(pod_spec(api[0]))]
    assert "spark://external-master:7077" in urls
    assert not any(component(m.obj) in ("master", "worker") for m in r.manifests)


def test_ci_values_files_render() -> None:
    files = sorted((ROOT / "chart" / "ci").glob("*-values.yaml"))
    assert {f.name for f in files} >= {"full-stack-values.yaml", "spark-only-values.yaml",
                                       "service-only-values.yaml"}
    for f in files:
        render(DEPLOY, [f], release=f.name.removesuffix("-values.yaml"))


def test_helm_test_pod_is_a_cleaned_up_hook() -> None:
    r = render(DEPLOY, release="full-stack")
    hooks = [m.obj for m in r.manifests if m.is_hook]
    assert hooks, "no `helm test` pod"
    for h in hooks:
        ann = h["metadata"]["annotations"]
        assert ann["helm.sh/hook"] == "test"
        assert "hook-succeeded" in ann.get("helm.sh/hook-delete-policy", "")


def test_lint_is_clean_for_the_umbrella_and_each_subchart() -> None:
    assert lint(ROOT / "chart") == []


def test_cli_render_prints_manifests_and_refuses_bad_values() -> None:
    ok = subprocess.run([sys.executable, "-m", "simulator", "render", "--chart", str(DEPLOY),
                         "--release", "spark-cluster", "--set", "tags.install-service=false"],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    docs = [d for d in yaml.safe_load_all(ok.stdout) if d]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service"}
    bad = subprocess.run([sys.executable, "-m", "simulator", "render", "--chart", str(DEPLOY),
                          "--set", "spark-job.spark.worker.replicas=-1"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 1 and bad.stdout == ""
    assert "worker/replicas" in bad.stderr


def test_notes_point_at_the_api_paths_that_exist() -> None:
    from spark_api.routers import jobs  # the route prefix is the API's own, not a copy

    notes = render(DEPLOY, release="full-stack").notes
    assert "/v1/jobs" in notes and jobs.router.prefix == "/v1/jobs"
    assert "jobs:submit" in notes
