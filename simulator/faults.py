"""Faults as scenarios: a scenario's ``faults:`` steps against a live stack, and ``chaos`` by hand.

A step (``scenarios.Fault``) submits its jobs at once (a 429 or 503 with ``Retry-After`` is
honored and the job submitted again, as a client should), waits for its trigger (``after``
seconds, or ``when: job NAME RUNNING``), does ONE action through the backend's own interface
(``kill_pod`` for a SIGKILL, ``restart_pod`` or ``start_oauth`` for a restart, ``Stack.scale``),
so it runs the same on every backend, and then checks:

- ``recoverWithin``: the acted-on component answers again in time (the API's ``/healthz``
  through its Service; the master's ``/json/`` ALIVE with every worker registered; a new ALIVE
  registration of a killed worker; the OAuth server's discovery document; the scaled count);
- every job ends in its ``outcome`` (``message`` in its message, if given) and is listed for its
  owner, and never for the other ordinary client;
- ``no5xx``: a background poller (a list as admin, ``/healthz``, every 0.5 s through the whole
  step) saw no 5xx but 503 with ``Retry-After`` (a dependency down). A refused connection while
  the API itself is down is not an answer and is counted apart.

Everything reaches the API through ``_Api`` below, the one seam to the simulator's API client.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.backends.base import OAUTH
from simulator.check import ApiClient, CheckResult
from simulator.run import RunError
from simulator.scenarios import TARGET, Fault, FaultJob, Scenario
from simulator.stack import Stack
from simulator.waiting import wait_for
from spark_stack_client import TERMINAL, ClientError, WaitTimeout

POLL_EVERY = 0.5
ORDINARY = ("sim-client-1", "sim-client-2")  # `ordinary` is the first (simulator.stack.CLIENTS)
Progress = Callable[[str], None]


# Calls that get no answer: the API (or its issuer) down for a moment, as a fault intends.
NO_ANSWER = (ClientError, httpx.HTTPError)


def _Api(stack: Stack) -> ApiClient:
    """The seam to the simulator's API client, the only place this module builds one. Its
    tokens are renewed by authlib before they expire (steps outlive the mock issuer's 300 s
    tokens); a call that gets no answer raises one of ``NO_ANSWER``."""
    return ApiClient(stack)


# ------------------------------------------------------------------ actions (also `chaos`)
@dataclass
class Action:
    """What a step or `chaos` did, and when the acted-on component answered again."""

    verb: str                 # kill | restart | scale
    target: str               # the pod name, "oauth", or "workers"
    detail: str               # pid 1234 | container 0123abcd | 4 -> 1
    at: float                 # time.monotonic() of the action
    wall: str                 # the same, UTC, for a human
    before: set[str] = field(default_factory=set)  # ALIVE worker ids before it (worker kills)
    expected_workers: int | None = None
    recovered_after: float | None = None
    recovery: str = ""        # what the recovery probe saw last

    def summary(self) -> dict[str, Any]:
        return {"action": self.verb, "target": self.target, "what": self.detail,
                "at": self.wall, "answered_again_after_s":
                    None if self.recovered_after is None else round(self.recovered_after, 1),
                "seen": self.recovery}


def resolve(stack: Stack, target: str, driver_of: Callable[[str], str] | None = None) -> str:
    """A fault target (``scenarios.TARGET``) → a pod name, or ``OAUTH``."""
    m = TARGET.match(target)
    if not m:
        raise RunError(f"{target!r}: give master, api, oauth, worker, worker[N] "
                       f"or 'worker hosting JOB'")
    if target == "oauth":
        if OAUTH not in stack.backend.extras():
            raise RunError("this run has no mock OAuth server (no API installed?)")
        return OAUTH
    stack.state.refresh()
    kind = target.split("[")[0].split(" ")[0]
    pods = sorted(n for n, r in stack.state.pods.items() if r.component == kind)
    if not pods:
        raise RunError(f"run {stack.state.run_id} has no {kind} pod")
    if m.group(2) is not None:
        i = int(m.group(2))
        if i >= len(pods):
            raise RunError(f"{target}: there are {len(pods)} worker pod(s): worker[0].."
                           f"worker[{len(pods) - 1}]")
        return pods[i]
    if m.group(3) is not None:
        if driver_of is None:
            raise RunError(f"{target}: only a scenario's fault step knows its jobs")
        return _hosting_worker(stack, driver_of(m.group(3)), pods)
    return pods[0]


def _hosting_worker(stack: Stack, driver_id: str, workers: list[str]) -> str:
    """The worker pod running ``driver_id``: the master's driver → its worker's host → the pod
    with that address."""
    j = stack.master_json()
    driver = next((d for d in j.get("activedrivers", []) if d.get("id") == driver_id), None)
    if driver is None:
        raise RunError(f"driver {driver_id} is not active in the master")
    worker = next((w for w in j.get("workers", []) if w.get("id") == driver.get("worker")), {})
    host = worker.get("host") or ""
    for name in workers:
        if stack.state.pods[name].ip and stack.state.pods[name].ip == host:
            return name
    raise RunError(f"driver {driver_id} runs on worker {driver.get('worker')} (host {host!r}); "
                   f"no worker pod has that address: {workers}")


def _alive_worker_ids(stack: Stack) -> set[str]:
    try:
        return {w["id"] for w in stack.master_json().get("workers", [])
                if w.get("state") == "ALIVE"}
    except (OSError, RunError, ValueError):
        return set()


def _worker_pods(stack: Stack) -> int:
    stack.state.refresh()
    return sum(1 for r in stack.state.pods.values() if r.component == "worker")


def _now(action: str, target: str, detail: str, **kw: Any) -> Action:
    return Action(action, target, detail, time.monotonic(),
                  time.strftime("%H:%M:%S", time.gmtime()), **kw)


def kill(stack: Stack, pod: str) -> Action:
    """SIGKILL through the backend (a pod's main process/container, or the OAuth server)."""
    before = _alive_worker_ids(stack)
    expected = _worker_pods(stack)
    with stack.state.locked():  # not while the controller is mid-restart of it
        stack.state.refresh()
        detail = stack.backend.kill_pod(pod)
    return _now("kill", pod, detail, before=before, expected_workers=expected)


def restart(stack: Stack, pod: str) -> Action:
    """Start it again: the OAuth server (nothing watches it) or a pod, stopped with its grace
    period first, as the controller restarts one."""
    before = _alive_worker_ids(stack)
    if pod == OAUTH:
        if stack.backend.extra_alive(OAUTH):
            stack.backend.stop_extra(OAUTH)
        stack.backend.start_oauth(stack.oauth_spec())
        return _now("restart", pod, "started again", before=before)
    if not hasattr(stack.backend, "restart_pod"):
        raise RunError(f"the {stack.state.backend} backend restarts its own pods (Kubernetes); "
                       f"use kill")
    with stack.state.locked():
        stack.state.refresh()
        detail = stack.backend.restart_pod(pod, stack.state.stored_topology())
    return _now("restart", pod, detail, before=before, expected_workers=_worker_pods(stack))


def scale(stack: Stack, workers: int) -> Action:
    """`scale workers N` (a scale-down waits for the workers' preStop); the action's time is
    when it began, so "answered again" includes the whole reconcile."""
    was = _worker_pods(stack)
    action = _now("scale", "workers", f"{was} -> {workers}", expected_workers=workers)
    stack.scale("workers", workers)
    return action


def recovered(stack: Stack, action: Action, timeout: float, progress: Progress) -> Action:
    """Wait until the acted-on component answers again; record how long after the action."""
    probe = _recovery_probe(stack, action)
    waited = wait_for(probe, timeout, interval=0.25,
                      report=lambda s, last: progress(f"  waiting for {action.target}: {last}"))
    action.recovery = waited.last
    if waited.ok:
        action.recovered_after = time.monotonic() - action.at
    return action


def _recovery_probe(stack: Stack, action: Action) -> Callable[[], tuple[bool, str]]:
    component = (OAUTH if action.target == OAUTH else "workers" if action.verb == "scale"
                 else stack.state.pods[action.target].component)

    def http_ok(url: str) -> tuple[bool, str]:
        try:
            code = httpx.get(url, timeout=2, trust_env=False).status_code
        except httpx.HTTPError as exc:
            return False, f"{url}: {type(exc).__name__}"
        return code == 200, f"{url} → {code}"

    def master() -> tuple[bool, str]:
        try:
            j = stack.master_json()
        except (OSError, RunError) as exc:
            return False, f"master /json/: {type(exc).__name__}"
        alive = {w["id"] for w in j.get("workers", []) if w.get("state") == "ALIVE"}
        ok = j.get("status") == "ALIVE" and len(alive) == action.expected_workers
        if component == "worker":  # a new registration, not the dead one still listed
            ok = ok and bool(alive - action.before)
        return ok, (f"master {j.get('status')}, {len(alive)} worker(s) ALIVE "
                    f"(expected {action.expected_workers})")

    if component == "api":
        return lambda: http_ok(stack.state.outputs["api_url"] + "/healthz")
    if component == OAUTH:
        issuer = stack.state.outputs["token_url"].rsplit("/", 1)[0]
        return lambda: http_ok(issuer + "/.well-known/openid-configuration")
    if component in ("master", "worker", "workers"):
        return master
    return lambda: (any(p.name == action.target and p.ready for p in stack.backend.pods()),
                    f"pod {action.target} ready")


# ------------------------------------------------------------------ the background poller
class Poller(threading.Thread):
    """Calls the API every 0.5 s until stopped: a list as admin (needs the master and the
    issuer's keys) and ``/healthz``. Records every status; ``bad()`` is every 5xx that is not a
    503 with ``Retry-After``."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True, name="fault-poller")
        self.api = _Api(stack)
        try:  # before the fault, so a dead issuer does not stop the poller
            self.api.token("admin")
        except NO_ANSWER:
            pass  # the issuer is down already (a restart step): each call tries again
        self.stop_event = threading.Event()
        self.seen: Counter[str] = Counter()
        self.bad_calls: list[str] = []

    def run(self) -> None:
        calls = [("admin", "/v1/jobs?limit=5"), ("none", "/healthz")]
        i = 0
        while not self.stop_event.is_set():
            kind, path = calls[i % len(calls)]
            i += 1
            try:
                resp = self.api.call(kind, "GET", path)
            except NO_ANSWER as exc:
                self.seen[f"no answer ({type(exc).__name__})"] += 1
            else:
                retry = "retry-after" in resp.headers
                self.seen[f"{resp.status_code}{' +Retry-After' if retry else ''}"] += 1
                if resp.status_code >= 500 and not (resp.status_code == 503 and retry):
                    self.bad_calls.append(f"{time.strftime('%H:%M:%S')} GET {path} → "
                                          f"{resp.status_code}: {resp.text[:160]}")
            self.stop_event.wait(POLL_EVERY)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=40)
        self.api.close()


# ------------------------------------------------------------------ one step
@dataclass
class _Submitted:
    spec: FaultJob
    id: str | None
    detail: str = ""
    retries: int = 0


def _submit(api, job: FaultJob, deadline: float) -> _Submitted:
    """Submit; on 429/503 with Retry-After wait as told, and on no answer (the API itself
    restarting) wait a second, then submit again until the job's deadline: a client's duty."""
    retries = 0
    while True:
        try:
            resp = api.submit(job.client, job.job, job.args)
        except NO_ANSWER as exc:
            if time.monotonic() + 1 < deadline:
                retries += 1
                time.sleep(1)
                continue
            return _Submitted(job, None, f"submit: {type(exc).__name__}: {exc}", retries)
        if resp.status_code == 202:
            return _Submitted(job, resp.json()["id"], "", retries)
        wait = resp.headers.get("retry-after")
        if resp.status_code in (429, 503) and wait and time.monotonic() + float(wait) < deadline:
            retries += 1
            time.sleep(float(wait))
            continue
        return _Submitted(job, None, f"submit → {resp.status_code}: {resp.text[:200]}", retries)


def _listed(api, client: str) -> tuple[set[str], bool]:
    """Every job id the client's list shows (all pages), and whether a page said partial."""
    ids: set[str] = set()
    partial = False
    offset: int | None = 0
    while offset is not None:
        resp = api.call(client, "GET", f"/v1/jobs?limit=100&offset={offset}")
        if resp.status_code != 200:
            raise RunError(f"list as {client} → {resp.status_code}: {resp.text[:200]}")
        page = resp.json()
        ids |= {j["id"] for j in page["items"]}
        partial = partial or bool(page.get("partial"))
        offset = page.get("nextOffset")
    return ids, partial


class StepRunner:
    def __init__(self, stack: Stack, progress: Progress) -> None:
        self.stack = stack
        self.progress = progress
        self.drivers: dict[str, str] = {}  # job name → its first instance's API id
        self.earlier: list[_Submitted] = []  # accepted jobs of the steps before this one
        self.vanished: set[str] = set()  # of those, the ones a step found missing

    def run(self, fault: Fault) -> list[CheckResult]:
        t0 = time.monotonic()
        label = f"fault {fault.name}"
        what = (f"kill {fault.kill}" if fault.kill else f"restart {fault.restart}"
                if fault.restart else f"scale workers to {fault.scale.workers}" if fault.scale
                else "no action")
        self.progress(f"{label}: {sum(j.count for j in fault.jobs)} job(s), {what}")
        api = _Api(self.stack)
        poller = Poller(self.stack)
        poller.start()
        results: list[CheckResult] = []
        try:
            if fault.jobs:  # every token the step needs, before its fault (the issuer's?)
                for client in {j.client for j in fault.jobs} | {*ORDINARY, "admin"}:
                    try:
                        api.token(client)
                    except NO_ANSWER as exc:
                        raise RunError(f"no token for {client} from the mock OAuth server: "
                                       f"{type(exc).__name__}: {exc}") from exc
            submitted = self._submit_all(api, fault)
            action = self._act(api, fault, submitted, results)
            if action is not None and fault.recover_within is not None:
                results.append(self._recovery(fault, action))
            results += self._jobs(api, fault, submitted, label)
        finally:
            poller.stop()
            api.close()
        if fault.no_5xx:
            seen = ", ".join(f"{k} x{v}" for k, v in sorted(poller.seen.items()))
            results.append(CheckResult(f"{label}: no 5xx but 503+Retry-After",
                                       not poller.bad_calls,
                                       f"poller saw {seen}"
                                       + (f"; BAD: {poller.bad_calls[:3]}"
                                          if poller.bad_calls else ""),
                                       time.monotonic() - t0))
        return results

    def _submit_all(self, api, fault: Fault) -> list[_Submitted]:
        specs = [j for j in fault.jobs for _ in range(j.count)]
        if not specs:
            return []
        with ThreadPoolExecutor(max_workers=min(20, len(specs))) as pool:
            out = list(pool.map(
                lambda j: _submit(api, j, time.monotonic() + j.timeout), specs))
        for s in out:
            if s.id and s.spec.name not in self.drivers:
                self.drivers[s.spec.name] = s.id
        retried = sum(s.retries for s in out)
        self.progress(f"  submitted {sum(1 for s in out if s.id)}/{len(out)} job(s)"
                      + (f" ({retried} resubmission(s) after Retry-After or no answer)"
                         if retried else ""))
        for s in out:
            if not s.id:
                self.progress(f"  NOT accepted: {s.spec.name}: {s.detail}")
        return out

    def _driver_of(self, api, name: str) -> str:
        job_id = self.drivers.get(name)
        if job_id is None:
            raise RunError(f"job {name} was not accepted, so it cannot be acted on")
        resp = api.call("admin", "GET", f"/v1/jobs/{job_id}")
        if resp.status_code != 200:
            raise RunError(f"job {name} ({job_id}): GET → {resp.status_code}")
        return resp.json()["driverId"]

    def _trigger(self, api, fault: Fault) -> str:
        if fault.after:
            time.sleep(fault.after)
            return f"after {fault.after:g}s"
        if fault.when:
            _, name, state = fault.when.split(" ")
            job_id = self.drivers.get(name)
            if job_id is None:
                raise RunError(f"when {fault.when!r}: job {name} was not accepted")

            def probe() -> tuple[bool, str]:
                try:
                    resp = api.call("admin", "GET", f"/v1/jobs/{job_id}")
                except NO_ANSWER as exc:
                    return False, f"job {name}: no answer ({type(exc).__name__})"
                now = resp.json().get("state") if resp.status_code == 200 else resp.status_code
                if now in TERMINAL:
                    raise RunError(f"when {fault.when!r}: the job ended {now} first")
                return now == state, f"job {name} {now}"

            waited = wait_for(probe, fault.timeout, interval=0.5)
            if not waited.ok:
                raise RunError(f"when {fault.when!r}: not within {fault.timeout:g}s; "
                               f"{waited.last}")
            return f"{fault.when} after {waited.seconds:.1f}s"
        return "at once"

    def _act(self, api, fault: Fault, submitted, results) -> Action | None:
        try:
            why = self._trigger(api, fault)
        except RunError as exc:
            results.append(CheckResult(f"fault {fault.name}: trigger", False, str(exc)))
            return None
        if fault.kill or fault.restart:
            target = resolve(self.stack, fault.kill or fault.restart,
                             lambda name: self._driver_of(api, name))
            action = (kill if fault.kill else restart)(self.stack, target)
        elif fault.scale:
            action = scale(self.stack, fault.scale.workers)
        else:
            return None
        self.progress(f"  {why}: {action.verb} {action.target} ({action.detail}) at "
                      f"{action.wall} UTC")
        return action

    def _recovery(self, fault: Fault, action: Action) -> CheckResult:
        limit = fault.recover_within
        recovered(self.stack, action, limit, self.progress)
        took = action.recovered_after
        name = f"fault {fault.name}: {action.target} answers again"
        detail = (f"{action.verb} {action.detail}: "
                  + (f"answered after {took:.1f}s" if took is not None
                     else f"NOT within {limit:g}s") + f" ({action.recovery})")
        self.progress(f"  {detail}")
        return CheckResult(f"{name} within {limit:g}s", took is not None and took <= limit,
                           detail, took or 0.0)

    def _jobs(self, api, fault: Fault, submitted: list[_Submitted], label: str
              ) -> list[CheckResult]:
        out: list[CheckResult] = []
        finals: dict[str, dict] = {}
        for s in submitted:
            if not s.id:
                continue
            try:
                job = api.wait_job(s.spec.client, s.id, s.spec.timeout)
                finals[s.id] = {"state": job.state, "message": job.message}
            except WaitTimeout as exc:
                finals[s.id] = {"state": "not terminal", "message": str(exc)}
        for spec in fault.jobs:
            mine = [s for s in submitted if s.spec is spec]
            bad = [f"not accepted: {s.detail}" for s in mine if not s.id]
            for s in mine:
                if not s.id:
                    continue
                final = finals[s.id]
                msg = final.get("message") or ""
                if final.get("state") != spec.outcome:
                    bad.append(f"{s.id} → {final.get('state')} (expected {spec.outcome})"
                               + (f": {msg}" if msg else ""))
                elif spec.message and spec.message.lower() not in msg.lower():
                    bad.append(f"{s.id} → {final['state']} with message {msg!r}, expected it "
                               f"to say {spec.message!r}")
            out.append(CheckResult(
                f"{label}: {spec.count} x {spec.name} ({spec.job}) end {spec.outcome}",
                not bad, "; ".join(bad[:4]) or
                f"{len(mine)} job(s) {spec.outcome}"
                + (f", message has {spec.message!r}" if spec.message else "")))
        if any(s.id for s in submitted):
            out.append(self._lists(api, submitted,
                                   f"{label}: every accepted job listed for its owner only"))
        # issue 8 item 8: a fault must not make an earlier job vanish; said once per job, by
        # the step during which it vanished
        earlier = [s for s in self.earlier if s.id not in self.vanished]
        if earlier:
            out.append(self._lists(api, earlier,
                                   f"{label}: earlier steps' jobs still listed for their owners"
                                   + (f" ({len(self.vanished)} gone before, said then)"
                                      if self.vanished else "")))
        self.earlier += [s for s in submitted if s.id]
        return out

    def _lists(self, api, submitted: list[_Submitted], name: str) -> CheckResult:
        """Every accepted job is in its owner's list; none is in the other ordinary client's."""
        owners = {s.spec.client for s in submitted if s.id}
        problems: list[str] = []
        seen: dict[str, set[str]] = {}
        for client in owners | set(ORDINARY):
            for _ in range(5):  # a partial page (owner lookups over budget): ask again
                ids, partial = _listed(api, client)
                if not partial:
                    break
                time.sleep(1)
            seen[client] = ids
            if partial:
                problems.append(f"{client}'s list stayed partial")
        one = {"ordinary": ORDINARY[0]}
        for s in submitted:
            if not s.id:
                continue
            owner = one.get(s.spec.client, s.spec.client)
            if s.id not in seen[s.spec.client]:
                problems.append(f"{s.id} missing from {s.spec.client}'s list")
                self.vanished.add(s.id)  # said now: later steps do not say it again
            for other in ORDINARY:
                if owner in ORDINARY and other != owner \
                        and s.id in seen[other]:
                    problems.append(f"{s.id} of {owner} is in {other}'s list")
        n = sum(1 for s in submitted if s.id)
        return CheckResult(name, not problems, (f"{len(problems)} problem(s): "
                                                 + "; ".join(problems[:4])) if problems else
                           f"{n} job(s) each in its owner's list, none in another client's")


def run_faults(stack: Stack, scenario: Scenario) -> list[CheckResult]:
    """Every fault step of ``scenario``, in order, against the live ``stack``."""
    runner = StepRunner(stack, stack.progress)
    results: list[CheckResult] = []
    for fault in scenario.faults:
        try:
            step = runner.run(fault)
        except (RunError, OSError, httpx.HTTPError) as exc:
            step = [CheckResult(f"fault {fault.name}", False, f"{type(exc).__name__}: {exc}")]
        results += [_known_gap(r, fault) for r in step]
    return results


def _known_gap(result: CheckResult, fault: Fault) -> CheckResult:
    """A step's ``knownGap`` applied to one of its results (``scenarios.KnownGap``)."""
    gap = fault.known_gap
    if gap is None or gap.check.lower() not in result.name.lower():
        return result
    if result.ok:
        return CheckResult(result.name, False, f"known gap closed, remove `knownGap` from "
                           f"step {fault.name}: {result.detail}", result.seconds, result.data)
    return CheckResult(result.name, True, result.detail, result.seconds, result.data,
                       gap=gap.reason)
