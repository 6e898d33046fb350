"""The workers' stop values as the chart renders them: a grace period, and by default
decommission on (the worker's env turns on spark.decommission.enabled in the entrypoint) with a
preStop hook that runs the image's decommission.sh bounded by the grace period minus the margin;
bad values are refused naming the value (docs/reliability.md, "Scale-down finishes its work")."""
from __future__ import annotations

import pytest

from simulator.render import RenderError, render
from simulator.topology import build

from .chartlib import containers, env_value, find, pod_spec

WORKER = "spark-job.spark.worker"


def _worker(sets: list[str]) -> tuple[dict, dict]:
    rendered = render(set_values=sets, release="rel")
    [deployment] = find(rendered, "Deployment", "worker")
    spec = pod_spec(deployment)
    return spec, next(containers(spec))


def test_decommission_on_by_default_with_a_bounded_prestop():
    spec, worker = _worker([])
    assert spec["terminationGracePeriodSeconds"] == 120
    assert env_value(worker, "SPARK_WORKER_DECOMMISSION") == "true"
    assert worker["lifecycle"]["preStop"]["exec"]["command"] == [
        "/opt/spark-stack/decommission.sh", "115"]


def test_grace_and_margin_set_the_wait():
    spec, worker = _worker([f"{WORKER}.terminationGracePeriodSeconds=40",
                            f"{WORKER}.decommission.stopMarginSeconds=10"])
    assert spec["terminationGracePeriodSeconds"] == 40
    assert worker["lifecycle"]["preStop"]["exec"]["command"][1] == "30"


def test_decommission_off_has_no_hook_and_says_so_to_the_entrypoint():
    spec, worker = _worker([f"{WORKER}.decommission.enabled=false",
                            f"{WORKER}.terminationGracePeriodSeconds=30"])
    assert "lifecycle" not in worker
    assert env_value(worker, "SPARK_WORKER_DECOMMISSION") == "false"
    assert spec["terminationGracePeriodSeconds"] == 30


def test_the_simulator_reads_the_hook_and_the_grace():
    rendered = render(set_values=[f"{WORKER}.terminationGracePeriodSeconds=60"], release="rel")
    topo = build(rendered.objects())
    [worker] = topo.by_component("worker")
    assert worker.termination_grace == 60
    assert worker.main.pre_stop == ("/opt/spark-stack/decommission.sh", "55")


@pytest.mark.parametrize("sets, where", [
    ([f"{WORKER}.terminationGracePeriodSeconds=5"], "/spark/worker/terminationGracePeriodSeconds"),
    ([f"{WORKER}.terminationGracePeriodSeconds=86400"],
     "/spark/worker/terminationGracePeriodSeconds"),
    ([f"{WORKER}.terminationGracePeriodSeconds=soon"],
     "/spark/worker/terminationGracePeriodSeconds"),
    ([f"{WORKER}.decommission.enabled=maybe"], "/spark/worker/decommission/enabled"),
    ([f"{WORKER}.decommission.stopMarginSeconds=0"],
     "/spark/worker/decommission/stopMarginSeconds"),
    ([f"{WORKER}.decommission.wait=true"], "/spark/worker/decommission"),
])
def test_bad_values_are_refused_naming_the_value(sets, where):
    with pytest.raises(RenderError, match=where):
        render(set_values=sets, release="rel")


def test_a_margin_not_below_the_grace_is_refused_naming_both():
    with pytest.raises(RenderError, match=r"stopMarginSeconds=30 must be below "
                                          r"spark-job\.spark\.worker\.terminationGracePeriodSeconds=20"):
        render(set_values=[f"{WORKER}.terminationGracePeriodSeconds=20",
                           f"{WORKER}.decommission.stopMarginSeconds=30"], release="rel")
