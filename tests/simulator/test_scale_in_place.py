"""`scale` sets the replica count in the manifests applied last instead of rendering the chart
again (Stack._scale_applied). That is only right while a replica count changes nothing else in
the rendered chart: these tests hold the chart to it, for both scalable workloads of every
scenario that has them, against a real render with the same values. No process is started: the
backend's apply is replaced by a recorder."""
from __future__ import annotations

from pathlib import Path

import pytest

from simulator.backends.base import ReconcileResult
from simulator.scenarios import load
from simulator.stack import Stack

KEYS = {"workers": "spark-job.spark.worker.replicas", "api": "api-service.replicaCount"}


@pytest.fixture()
def applied(runs_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """A created run whose first render is recorded as applied; ``applied(scenario)`` returns
    (stack, calls) where calls collects every (objects, topology) handed to the backend."""
    calls: list[tuple[list[dict], object]] = []

    def record(self: Stack, objects: list[dict], topo) -> ReconcileResult:
        calls.append((objects, topo))
        self.state.manifests = objects + self.extra_objects()
        return ReconcileResult()

    monkeypatch.setattr(Stack, "_apply", record)

    def make(scenario: str) -> tuple[Stack, list]:
        stack = Stack.create(load(scenario), ["spark-job.spark.worker.replicas=2"],
                             progress=lambda _msg: None)
        objects, topo = stack.render()
        record(stack, objects, topo)
        calls.clear()
        return stack, calls

    return make


# Every scalable workload of the scenarios that have it (spark-only has no API to scale).
@pytest.mark.parametrize(("scenario", "what"), [
    ("full-stack", "workers"), ("full-stack", "api"), ("spark-only", "workers")])
def test_scaling_in_place_applies_exactly_what_a_render_would(applied, scenario: str,
                                                              what: str) -> None:
    stack, calls = applied(scenario)
    assert stack.render()[1].by_component("worker" if what == "workers" else "api")
    for replicas in (6, 0, 1, 3):
        stack.scale(what, replicas)
        assert len(calls) == 1, "scale handed the backend one change"
        patched, topo = calls.pop()
        rendered, expected = stack.render()   # the run's values now carry the new count
        assert f"{KEYS[what]}={replicas}" in stack.state.set_values
        assert patched == rendered, f"{what}={replicas}: the chart changes more than replicas"
        assert topo.workloads == expected.workloads


def test_other_values_still_render(applied, monkeypatch: pytest.MonkeyPatch) -> None:
    """A --set given to scale changes the values: the chart is rendered again."""
    stack, calls = applied("spark-only")
    rendered = []
    real = Stack.render

    def counting(self: Stack, set_values=None):
        rendered.append(set_values)
        return real(self, set_values)

    monkeypatch.setattr(Stack, "render", counting)
    stack.scale("workers", 3, ["spark-job.spark.worker.memory=768m"])
    assert len(rendered) == 1 and "spark-job.spark.worker.memory=768m" in rendered[0]
    stack.scale("workers", 4)
    assert len(rendered) == 1, "a replica count alone renders nothing"
    stack.scale("workers", 5, rerender=True)   # scale -f FILE: the file is read again
    assert len(rendered) == 2
    assert len(calls) == 3
