"""Evaluate a scenario's expectations against a running stack, through its real interfaces.

Jobs go through the API with real tokens from the mock OAuth server; worker counts come from the
Spark master's ``/json/``; workloads from the backend's pods. Every check records what it saw,
so a failure says why, and how long it took (the summary table shows job times).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.scenarios import AuthExpectation, JobExpectation, Scenario
from simulator.stack import Stack
from spark_stack_client import Client, ClientError, Job, RetryPolicy, WaitTimeout

# A job the auth checks submit: valid, tiny; a 401/403 must come before it is ever run.
_PROBE_JOB = {"job": "pi", "args": {"samples": 10, "partitions": 1}}


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    gap: str | None = None    # a known gap: failed as expected (the reason), and not held against
                              # the run; ``ok`` then says whether the gap is still there


class ApiClient:
    """The job API as the scenario's clients see it: one spark_stack_client.Client per client
    (tokens by client credentials, fetched and renewed by authlib), an anonymous one for
    ``none``; ``kind`` is a client kind (first of that kind) or a client id."""

    def __init__(self, stack: Stack) -> None:
        out = stack.state.outputs
        if "api_url" not in out:
            raise RuntimeError("this run has no job API (tags.install-service=false?)")
        self.base = out["api_url"]
        self.token_url = out["token_url"]
        self.clients = {c.kind: c for c in reversed(stack.clients())}  # first of each kind
        self.by_id = {c.id: c for c in stack.clients()}
        self._open: dict[str, Client] = {}

    def client(self, kind: str) -> Client:
        # No keep-alive: uvicorn drops idle connections after 5 s, and a request sent on a pooled
        # connection just as the Service proxy passes that close on fails with a connection
        # reset (seen once in service-only). A fresh connection per call costs ~0.1 ms here.
        # No retries: a call is one request whose answer the checks judge (a 503 is a 503);
        # wait_job rides out outages by polling instead.
        options: dict[str, Any] = {"keepalive": False, "trust_env": False,
                                   "retry": RetryPolicy(attempts=1)}
        if kind == "none":
            key, make = kind, lambda: Client(self.base, anonymous=True, **options)
        else:
            c = self.clients.get(kind) or self.by_id[kind]
            key, make = c.id, lambda: Client(self.base, token_url=self.token_url,
                                             client_id=c.id, client_secret=c.secret, **options)
        if key not in self._open:
            self._open[key] = make()
        return self._open[key]

    def token(self, kind: str) -> str | None:
        """The token ``kind``'s calls carry (fetched now if need be; None for ``none``)."""
        return self.client(kind).access_token()

    def call(self, kind: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """The raw answer, whatever its status (the auth expectations compare it)."""
        return self.client(kind).request(method, path, **kw)

    def submit(self, kind: str, job: str, args: dict[str, Any]) -> httpx.Response:
        return self.call(kind, "POST", "/v1/jobs", json={"job": job, "args": args})

    def wait_job(self, kind: str, job_id: str, timeout: float) -> Job:
        """The job once terminal; the API being briefly unavailable or not knowing the job (a
        master restarting, then recovering) only costs time. WaitTimeout after ``timeout``."""
        return self.client(kind).wait(job_id, timeout, interval=0.5, ride_out_outages=True)

    def close(self) -> None:
        for client in self._open.values():
            client.close()


def check_workloads(stack: Stack, scenario: Scenario) -> list[CheckResult]:
    pods = stack.backend.pods()
    running = {p.component for p in pods if p.alive and p.ready}
    out = []
    for comp in scenario.expect.workloads:
        n = sum(1 for p in pods if p.component == comp and p.ready)
        out.append(CheckResult(f"workload {comp} runs", comp in running,
                               f"{n} ready pod(s) with component {comp}"))
    for comp in scenario.expect.absent:
        n = sum(1 for p in pods if p.component == comp)
        out.append(CheckResult(f"workload {comp} absent", n == 0,
                               f"{n} pod(s) with component {comp}"))
    return out


def check_workers(stack: Stack, expected: int) -> CheckResult:
    try:
        j = stack.master_json()
    except OSError as exc:
        return CheckResult("alive workers", False, f"master /json/ unreachable: {exc}")
    alive = j.get("aliveworkers")
    return CheckResult("alive workers", alive == expected,
                       f"master says {alive} ALIVE, expected {expected}", data={"alive": alive})


def check_auth(api: ApiClient, exp: AuthExpectation) -> CheckResult:
    if exp.action == "submit":
        resp = api.submit(exp.client, _PROBE_JOB["job"], _PROBE_JOB["args"])
    elif exp.action == "list":
        resp = api.call(exp.client, "GET", "/v1/jobs")
    else:
        resp = api.call(exp.client, "GET", "/v1/catalog")
    ok = resp.status_code == exp.status
    if ok and exp.status == 401:
        ok = resp.headers.get("www-authenticate", "").lower().startswith("bearer")
    detail = f"{exp.action} as {exp.client} → {resp.status_code} (expected {exp.status})"
    if resp.status_code in (200, 202) and exp.action == "submit":
        # an unexpected acceptance: do not leave the job running
        job_id = resp.json().get("id")
        api.call("admin", "DELETE", f"/v1/jobs/{job_id}")
    return CheckResult(f"auth {exp.client} {exp.action}", ok, detail)


def check_job(api: ApiClient, exp: JobExpectation) -> CheckResult:
    t0 = time.monotonic()
    resp = api.submit(exp.client, exp.job, exp.args)
    if resp.status_code != 202:
        return CheckResult(f"job {exp.job}", False,
                           f"submit as {exp.client} → {resp.status_code}: {resp.text[:300]}")
    job = resp.json()
    try:
        final = api.wait_job(exp.client, job["id"], exp.timeout)
    except WaitTimeout as exc:
        return CheckResult(f"job {exp.job}", False,
                           f"job {exc.job_id} not terminal after {exc.timeout:.0f}s; last seen "
                           f"{exc.state}", time.monotonic() - t0)
    except ClientError as exc:
        return CheckResult(f"job {exp.job}", False, f"waiting for {job['id']}: {exc}",
                           time.monotonic() - t0)
    took = time.monotonic() - t0
    ok = final.state == exp.outcome
    return CheckResult(f"job {exp.job}", ok,
                       f"{job['id']} → {final.state} (expected {exp.outcome})"
                       + (f": {final.message}" if final.message else ""),
                       took, data={"id": job["id"], "state": final.state})


@dataclass
class CheckReport:
    """What `check` found: every result, and whatever `down` could not remove."""

    scenario: str
    backend: str
    results: list[CheckResult]
    leftovers: list[str]
    error: str = ""

    @property
    def passed(self) -> bool:
        return (not self.error and not self.leftovers and bool(self.results)
                and all(r.ok for r in self.results))


def check_scenario(scenario: Scenario, backend: str, set_values: Sequence[str] = (), *,
                   values_files: Sequence[str] = (), set_string_values: Sequence[str] = (),
                   progress=None,
                   more: Callable[[Stack], list[CheckResult]] | None = None) -> CheckReport:
    """up + every expectation (+ ``more`` checks of the live stack) + down (down also on failure
    and interrupts): the `check` command and the scenario tests share this one path."""
    from simulator import report
    from simulator.run import RunError

    kw = {"progress": progress} if progress else {}
    stack = Stack.create(scenario, set_values, backend, values_files=values_files,
                         set_string_values=set_string_values, **kw)
    results: list[CheckResult] = []
    error = ""
    try:
        stack.up()
        stack.progress(f"checking {scenario.name} on {backend}: {len(scenario.expect.jobs)} "
                       f"job(s), {len(scenario.expect.auth)} auth call(s), "
                       f"{len(scenario.faults)} fault step(s)")
        results = evaluate(stack, scenario) + (more(stack) if more else [])
        report.summary(stack, sys.stderr, results)
    except (RunError, OSError, httpx.HTTPError, ClientError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        stack.progress(f"check {scenario.name} failed: {error}")
    finally:
        leftovers = stack.down()
    out = CheckReport(scenario.name, backend, results, leftovers, error)
    if leftovers:
        stack.progress(f"LEAK after down: {leftovers}")
    stack.progress(f"check {scenario.name} ({backend}): {'PASSED' if out.passed else 'FAILED'}")
    return out


def evaluate(stack: Stack, scenario: Scenario) -> list[CheckResult]:
    results = check_workloads(stack, scenario)
    if stack.topology is not None:
        results += [CheckResult(name, ok, detail)
                    for name, ok, detail in stack.backend.cluster_checks(stack.topology)]
    if scenario.expect.alive_workers is not None:
        results.append(check_workers(stack, scenario.expect.alive_workers))
    if scenario.expect.auth or scenario.expect.jobs:
        api = ApiClient(stack)
        try:
            results += [check_auth(api, a) for a in scenario.expect.auth]
            results += [check_job(api, j) for j in scenario.expect.jobs]
        finally:
            api.close()
    if scenario.faults:  # the fault steps, in order, after the steady-state checks
        from simulator.faults import run_faults
        results += run_faults(stack, scenario)
    return results
