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

TERMINAL = {"FINISHED", "FAILED", "KILLED", "ERROR"}
# A job the auth checks submit: valid, tiny; a 401/403 must come before it is ever run.
_PROBE_JOB = {"job": "pi", "args": {"samples": 10, "partitions": 1}}


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


class ApiClient:
    """The job API as a client sees it: tokens by client credentials, then bearer calls."""

    def __init__(self, stack: Stack) -> None:
        out = stack.state.outputs
        if "api_url" not in out:
            raise RuntimeError("this run has no job API (tags.install-service=false?)")
        self.base = out["api_url"]
        self.token_url = out["token_url"]
        self.clients = {c.kind: c for c in reversed(stack.clients())}  # first of each kind
        self.by_id = {c.id: c for c in stack.clients()}
        # No keep-alive: uvicorn drops idle connections after 5 s, and a request sent on a pooled
        # connection just as the Service proxy passes that close on fails with a connection
        # reset (seen once in service-only). A fresh connection per call costs ~0.1 ms here.
        self.http = httpx.Client(timeout=30, trust_env=False,
                                 limits=httpx.Limits(max_keepalive_connections=0))
        self._tokens: dict[str, str] = {}

    def token(self, kind: str) -> str | None:
        if kind == "none":
            return None
        client = self.clients.get(kind) or self.by_id[kind]
        if client.id not in self._tokens:
            resp = self.http.post(self.token_url, data={"grant_type": "client_credentials"},
                                  auth=(client.id, client.secret))
            resp.raise_for_status()
            self._tokens[client.id] = resp.json()["access_token"]
        return self._tokens[client.id]

    def call(self, kind: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        tok = self.token(kind)
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        return self.http.request(method, self.base + path, headers=headers, **kw)

    def submit(self, kind: str, job: str, args: dict[str, Any]) -> httpx.Response:
        return self.call(kind, "POST", "/v1/jobs", json={"job": job, "args": args})

    def wait_job(self, kind: str, job_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            resp = self.call(kind, "GET", f"/v1/jobs/{job_id}")
            if resp.status_code == 200:
                last = resp.json()
                if last.get("state") in TERMINAL:
                    return last
            else:
                last = {"http": resp.status_code, "body": resp.text[:300]}
            time.sleep(0.5)
        raise TimeoutError(f"job {job_id} not terminal after {timeout:.0f}s; last seen {last}")

    def close(self) -> None:
        self.http.close()


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
    except TimeoutError as exc:
        return CheckResult(f"job {exp.job}", False, str(exc), time.monotonic() - t0)
    took = time.monotonic() - t0
    ok = final["state"] == exp.outcome
    return CheckResult(f"job {exp.job}", ok,
                       f"{job['id']} → {final['state']} (expected {exp.outcome})"
                       + (f": {final.get('message')}" if final.get("message") else ""),
                       took, data={"id": job["id"], "state": final["state"]})


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
    except (RunError, OSError, httpx.HTTPError) as exc:
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
