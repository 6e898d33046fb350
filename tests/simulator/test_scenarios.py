"""Every scenario file parametrizes the end-to-end tests (ids from the file names), three ways:

- fast: the scenario loads, its values render with the real Helm engine, and the topology has
  exactly the components the scenario expects to run and none it expects absent;
- spark: ``check`` on the process backend (real JVMs, the real API, the real mock OAuth);
- docker: ``check`` on the docker backend with the real images, and every Spark and API
  container locked down as restricted-v2 would run it; nothing labelled with the run is left.
A new file in scenarios/ is picked up by all three without touching this module.
"""
from __future__ import annotations

import pytest
import yaml

from simulator import render as rendering
from simulator import topology
from simulator.check import check_scenario
from simulator.scenarios import SCENARIOS_DIR, load, resolve_values_file, scenario_path

SCENARIOS = sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))


def test_every_scenario_is_parametrized():
    assert {"full-stack", "spark-only", "service-only"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_renders_its_components(name, tmp_path):
    scenario = load(name)
    files = [resolve_values_file(scenario_path(name), f) for f in scenario.values_files]
    inline = tmp_path / "values.yaml"  # inline values go through a file, as the stack does
    inline.write_text(yaml.safe_dump(scenario.values))
    sets = list(scenario.set)
    if scenario.external_spark is not None:  # what the simulator adds: the external master
        sets.append("api-service.env.sparkMasterUrl=spark://external-master:7077")
    rendered = rendering.render(rendering.CHART_DIR, [*files, str(inline)], sets,
                                release=scenario.release, namespace=scenario.namespace)
    topo = topology.build(rendered.objects(hooks=False), scenario.namespace,
                          [topology.secret_manifest(f"{scenario.release}-owner-secret",
                                                    scenario.namespace, {"owner-secret": "x"})])
    components = {w.component for w in topo.workloads}
    assert set(scenario.expect.workloads) <= components, components
    assert not set(scenario.expect.absent) & components, components
    if scenario.expect.alive_workers is not None and "worker" in components:
        assert sum(w.replicas for w in topo.by_component("worker")) == \
            scenario.expect.alive_workers


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_checks_on_process_backend(name, runs_dir, needs_spark):
    report = check_scenario(load(name), "process")
    failed = [f"{r.name}: {r.detail}" for r in report.results if not r.ok]
    assert report.passed, (report.error, failed, report.leftovers)
