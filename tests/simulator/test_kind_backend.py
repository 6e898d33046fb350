"""Each scenario on a real kind cluster with the real helm CLI (nightly CI: `tox -e kind`),
with `helm test` and the NetworkPolicy proof among the checks. Skipped, with what is missing,
where kind, helm, kubectl or a Docker engine is not there (these development machines)."""
from __future__ import annotations

import pytest

from simulator.backends.kind.backend import preflight
from simulator.check import check_scenario
from simulator.scenarios import load, names

pytestmark = [pytest.mark.kind, pytest.mark.slow]
SCENARIOS = names(faults=False)  # fault steps need the simulator's own restarts (process)


@pytest.fixture(scope="module")
def kind_tools() -> dict[str, str]:
    found, missing = preflight()
    if missing:
        pytest.skip("the kind backend needs: " + "; ".join(missing))
    return found


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_checks_on_kind(name, runs_dir, kind_tools):
    report = check_scenario(load(name), "kind")
    failed = [f"{r.name}: {r.detail}" for r in report.results if not r.ok]
    assert report.passed, (report.error, failed, report.leftovers)
    if name == "full-stack":
        names = {r.name for r in report.results}
        assert "helm test" in names
        assert any(n.startswith("NetworkPolicy:") for n in names)
