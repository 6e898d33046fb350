"""Probes run as the kubelet runs them: httpGet and tcpSocket against the pod's IP, exec inside it.

One check is ``run_probe``; ``ProbeTracker`` applies the kubelet's rules over time for one pod:
the startup probe gates the others, ``failureThreshold`` consecutive failures make a probe
fail (a failed startup or liveness probe means "restart the container"), one success makes it
pass (``successThreshold`` is 1 for startup and liveness, and the chart never sets it higher),
``initialDelaySeconds`` and ``periodSeconds`` pace the checks. See
https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from simulator.topology import Probe
from simulator.waiting import wait_for

# exec probes: how to run a command in the pod (the backend knows: a local process or docker exec)
Exec = Callable[[Sequence[str], float], int]
# where a pod's port is reached from here: (host, port); the pod's IP, or a published port
Target = Callable[[int], tuple[str, int]]


def at(ip: str) -> Target:
    """The pod's ports on its own address (the process backend)."""
    return lambda port: (ip, port)


def run_probe(probe: Probe, target: Target, exec_in_pod: Exec | None = None) -> tuple[bool, str]:
    """One check; returns (ok, what was seen)."""
    try:
        if probe.kind in ("httpGet", "tcpSocket"):
            host, port = target(probe.port or 0)
        if probe.kind == "httpGet":
            url = f"http://{host}:{port}{probe.path}"
            with urllib.request.urlopen(url, timeout=max(1.0, probe.timeout)) as resp:
                return 200 <= resp.status < 400, f"GET {url} → {resp.status}"
        if probe.kind == "tcpSocket":
            with socket.create_connection((host, port), timeout=max(1.0, probe.timeout)):
                return True, f"tcp {host}:{port} open"
        if probe.kind == "exec":
            if exec_in_pod is None:
                return False, "exec probes are not supported here"
            code = exec_in_pod(probe.command, max(1.0, probe.timeout))
            return code == 0, f"exec {list(probe.command)} → exit {code}"
    except urllib.error.HTTPError as exc:
        return False, f"GET {exc.url} → {exc.code}"
    except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return False, f"unknown probe kind {probe.kind!r}"


@dataclass
class _Track:
    probe: Probe
    failures: int = 0
    passed: bool = False
    next_at: float = 0.0
    last: str = "not run yet"


@dataclass
class ProbeTracker:
    """The kubelet's view of one pod's probes; call ``tick`` often, it paces itself.

    ``fast`` (seconds) caps the period while waiting for startup and readiness, so a wait does
    not sleep a whole ``periodSeconds`` between two checks; thresholds still count checks.
    """

    target: Target
    startup: Probe | None
    readiness: Probe | None
    liveness: Probe | None
    exec_in_pod: Exec | None = None
    fast: float = 0.5
    started_at: float = field(default_factory=time.monotonic)
    _tracks: dict[str, _Track] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("startup", "readiness", "liveness"):
            probe = getattr(self, name)
            if probe is not None:
                self._tracks[name] = _Track(probe, next_at=self.started_at + probe.initial_delay)

    def _check(self, name: str, now: float, fast: bool) -> None:
        track = self._tracks[name]
        if now < track.next_at:
            return
        ok, track.last = run_probe(track.probe, self.target, self.exec_in_pod)
        period = min(track.probe.period, self.fast) if fast else track.probe.period
        track.next_at = now + period
        if ok:
            track.failures, track.passed = 0, True
        else:
            track.failures += 1
            # as the kubelet: a probe that passed fails only after failureThreshold failures
            # in a row (one slow answer on a loaded node does not drop a pod from its Service)
            if name != "startup" and track.failures >= track.probe.failure_threshold:
                track.passed = False

    @property
    def started(self) -> bool:
        track = self._tracks.get("startup")
        return track is None or track.passed

    def tick(self) -> str | None:
        """Run the probes that are due. Returns a reason when the container must be restarted
        (startup or liveness failed ``failureThreshold`` times in a row), else None."""
        now = time.monotonic()
        if not self.started:
            self._check("startup", now, fast=True)
            track = self._tracks["startup"]
            if not track.passed:
                # the kubelet allows failureThreshold x periodSeconds for startup
                budget = track.probe.initial_delay + track.probe.failure_threshold * \
                    track.probe.period
                if now - self.started_at > budget:
                    return f"startup probe failed for {budget:.0f}s: {track.last}"
                return None
        if "readiness" in self._tracks:
            self._check("readiness", now, fast=not self._tracks["readiness"].passed)
        if "liveness" in self._tracks:
            self._check("liveness", now, fast=False)
            track = self._tracks["liveness"]
            if track.failures >= track.probe.failure_threshold:
                return f"liveness probe failed {track.failures} times: {track.last}"
        return None

    @property
    def ready(self) -> bool:
        if not self.started:
            return False
        track = self._tracks.get("readiness")
        return True if track is None else track.passed

    def seen(self) -> str:
        """What the probes saw last, for progress lines and errors."""
        return "; ".join(f"{n}: {t.last}" for n, t in self._tracks.items()) or "no probes"


def pod_tracker(rec, target: Target, exec_in_pod: Exec | None,
                liveness: bool = False) -> ProbeTracker:
    """The tracker for a pod's record (``run.PodRecord``) on any backend: its startup and
    readiness probes (and liveness, for the controller). A pod without probes is ready once its
    first port accepts connections."""
    readiness = rec.readiness
    if rec.startup is None and readiness is None and rec.ports:
        readiness = Probe("tcpSocket", port=rec.ports[0])
    return ProbeTracker(target, rec.startup, readiness, rec.liveness if liveness else None,
                        exec_in_pod)


def ready_now(tracker: ProbeTracker) -> tuple[bool, str]:
    """One look, as `status` takes it: the startup probe (if any) and readiness pass now."""
    for probe in (tracker.startup, tracker.readiness):
        if probe is not None:
            ok, what = run_probe(probe, tracker.target, tracker.exec_in_pod)
            if not ok:
                return False, what
    return True, "probes pass"


def master_alive(target: Target, port: int) -> tuple[bool, str]:
    """The Spark master answers /json/ before it is ALIVE; workers must wait for ALIVE."""
    host, host_port = target(port)
    try:
        with urllib.request.urlopen(f"http://{host}:{host_port}/json/", timeout=2) as resp:
            status = json.loads(resp.read()).get("status")
    except (OSError, ValueError) as exc:
        return False, f"master /json/: {exc}"
    return status == "ALIVE", f"master /json/ status {status}"


@dataclass
class PodWait:
    """One pod being waited for: its probes, and how to see that it died and what it logged."""

    tracker: ProbeTracker
    exited: Callable[[], str | None]       # "exited with 137" once the pod is gone, else None
    log_tail: Callable[[], str]
    also: Callable[[], tuple[bool, str]] | None = None  # e.g. the Spark master is ALIVE


def wait_ready(pods: dict[str, PodWait], timeout: float, progress: Callable[[str], None],
               on_ready: Callable[[str], None], hint: str) -> None:
    """Wait until every pod's startup and readiness probes pass (and ``also``), as the kubelet
    would report it; fail loudly (``ReadinessError``) when one exits, fails its startup or
    liveness probe past the threshold, or is not ready within ``timeout``."""
    from simulator.backends.base import ReadinessError

    t0 = time.monotonic()
    waiting = set(pods)
    progress(f"waiting for {', '.join(sorted(waiting))} to be ready (startup and readiness "
             f"probes, up to {timeout:.0f}s)")

    def probe() -> tuple[bool, str]:
        for name in sorted(waiting):
            pod = pods[name]
            gone = pod.exited()
            why = f"{gone} before it was ready" if gone else pod.tracker.tick()
            if why:
                raise ReadinessError(f"pod {name}: {why}; probes saw: {pod.tracker.seen()}\n"
                                     f"--- its last log lines ---\n{pod.log_tail()}\n"
                                     f"--- hint: the log above says why; {hint}")
            ok, what = pod.tracker.ready, pod.tracker.seen()
            if ok and pod.also is not None:
                ok, what = pod.also()
            if ok:
                waiting.discard(name)
                on_ready(name)
                progress(f"ready: {name} after {time.monotonic() - t0:.1f}s ({what})")
        return not waiting, "; ".join(f"{n}: {pods[n].tracker.seen()}" for n in sorted(waiting))

    waited = wait_for(probe, timeout,
                      report=lambda elapsed, last: progress(
                          f"  still waiting {elapsed:.0f}s for {last}"))
    if not waited.ok:
        name = sorted(waiting)[0]
        raise ReadinessError(
            f"pod {name} not ready after {waited.seconds:.0f}s; the probes last saw: "
            f"{pods[name].tracker.seen()}\n--- its last log lines ---\n{pods[name].log_tail()}"
            f"\n--- hint: is the machine overloaded (JVMs on 2 cores)? Another run still up? "
            f"{hint}")
