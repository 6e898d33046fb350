"""A hypothesis state machine against ONE live stack: scale, submit, toggle, kill; then down.

Rules: scale workers (0..max; ≤ 2 by default on this shared box, SPARK_STACK_TEST_MAX_WORKERS
to raise it), submit a catalog job with a valid token, call without a token, toggle the service
off/on by upgrade, kill a worker process (then reconcile, as a ReplicaSet would). Invariants:
alive workers == replicas once reconciled, every submitted job reaches a terminal state,
unauthenticated calls are refused. After the machine: nothing of the run is left.
Profiles: the suite's (conftest.py) pick max_examples; the step count is small in CI and
long with HYPOTHESIS_PROFILE=nightly.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule)

from simulator.local import procs
from simulator.local.procs import ProcRecord
from simulator.check import ApiClient
from simulator.scenarios import load
from simulator.stack import Stack

pytestmark = [pytest.mark.spark, pytest.mark.slow]
MAX_WORKERS = int(os.environ.get("SPARK_STACK_TEST_MAX_WORKERS", "2"))
NIGHTLY = os.environ.get("HYPOTHESIS_PROFILE") == "nightly"
STATE: dict = {}


class StackMachine(RuleBasedStateMachine):
    """The model: worker replicas, whether the service is on, jobs submitted and not yet seen."""

    @initialize()
    def start(self):
        self.stack: Stack = STATE["stack"]
        self.replicas = self.stack.master_json()["aliveworkers"]
        self.service = "api_url" in self.stack.state.outputs
        self.pending: list[str] = []

    def _api(self) -> ApiClient:
        return ApiClient(self.stack)

    @rule(n=st.integers(0, MAX_WORKERS))
    def scale(self, n):
        self.stack.scale("workers", n)
        self.replicas = n

    @precondition(lambda self: self.service and self.replicas >= 1)
    @rule(job=st.sampled_from(["pi", "wordcount"]))
    def submit(self, job):
        api = self._api()
        try:
            args = {"samples": 100, "partitions": 1} if job == "pi" else {"text": "a b a"}
            resp = api.submit("ordinary", job, args)
            assert resp.status_code == 202, resp.text
            self.pending.append(resp.json()["id"])
        finally:
            api.close()

    @precondition(lambda self: self.service)
    @rule(action=st.sampled_from(["submit", "list"]))
    def no_token(self, action):
        api = self._api()
        try:
            resp = (api.submit("none", "pi", {}) if action == "submit"
                    else api.call("none", "GET", "/v1/jobs"))
            assert resp.status_code == 401
        finally:
            api.close()

    @precondition(lambda self: not self.pending)  # a job in flight needs the API to be read
    @rule()
    def toggle_service(self):
        self.service = not self.service
        self.stack.upgrade([f"tags.install-service={'true' if self.service else 'false'}"])

    @precondition(lambda self: self.replicas >= 1)
    @rule(data=st.data())
    def kill_worker(self, data):
        workers = sorted(p for p in self.stack.state.pods if "spark-worker" in p)
        victim = data.draw(st.sampled_from(workers))
        self.stack.backend.kill_pod(victim)
        self.stack.reconcile()

    @invariant()
    def workers_match_replicas(self):
        if hasattr(self, "stack"):
            assert self.stack.master_json()["aliveworkers"] == self.replicas

    @invariant()
    def jobs_reach_terminal_states(self):
        if not getattr(self, "pending", None) or self.replicas == 0:
            return
        api = self._api()
        try:
            for job_id in self.pending:
                final = api.wait_job("ordinary", job_id, timeout=300)
                # Checked after every step, so no worker is killed or scaled away mid-job: a
                # valid catalog job with a valid token must not merely end, it must succeed.
                assert final.state == "FINISHED", final
            self.pending.clear()
        finally:
            api.close()

    def teardown(self):
        # leave the next example a stack with the service on and one worker
        if hasattr(self, "stack"):
            if not self.service:
                self.stack.upgrade(["tags.install-service=true"])
            if self.replicas != 1:
                self.stack.scale("workers", 1)


StackMachine.TestCase.settings = settings(
    max_examples=20 if NIGHTLY else 2, stateful_step_count=25 if NIGHTLY else 5,
    deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def live_stack(runs_dir, needs_spark):
    stack = Stack.create(load("full-stack"), ["spark-job.spark.worker.memory=1g",
                                              "spark-job.spark.worker.replicas=1"])
    try:
        stack.up()
        STATE["stack"] = stack
        yield stack
    finally:
        STATE.clear()
        stack.down()
    records = [ProcRecord.from_json(p.proc) for p in stack.state.pods.values() if p.proc]
    assert not [r for r in records if r.alive()]
    assert procs.listening_on(stack.state.subnet + ".") == []


def test_stack_state_machine(live_stack):
    StackMachine.TestCase("runTest").runTest()
