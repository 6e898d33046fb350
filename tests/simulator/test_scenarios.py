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

from simulator.check import check_scenario
from simulator.scenarios import load, names
from simulator.stack import Stack

SCENARIOS = names()
STEADY = names(faults=False)  # scenarios with `faults:` steps run in `tox -e faults`


def test_every_scenario_is_parametrized():
    assert {"full-stack", "spark-only", "service-only", "faults"} <= set(SCENARIOS)
    assert "faults" not in STEADY and "full-stack" in STEADY


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_renders_its_components(name, runs_dir):
    """Rendered exactly as a run renders it (the scenario's values, the simulator's --sets and
    the Secrets it creates outside the release); nothing is started."""
    scenario = load(name)
    stack = Stack.create(scenario, backend="process", progress=lambda _line: None)
    _objects, topo = stack.render()
    components = {w.component for w in topo.workloads}
    assert set(scenario.expect.workloads) <= components, components
    assert not set(scenario.expect.absent) & components, components
    if scenario.expect.alive_workers is not None and "worker" in components:
        assert sum(w.replicas for w in topo.by_component("worker")) == \
            scenario.expect.alive_workers


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("name", STEADY)
def test_scenario_checks_on_process_backend(name, runs_dir, needs_spark):
    report = check_scenario(load(name), "process")
    failed = [f"{r.name}: {r.detail}" for r in report.results if not r.ok]
    assert report.passed, (report.error, failed, report.leftovers)
