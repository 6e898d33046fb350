"""Stopping pods as the kubelet does, for the process and docker backends.

When a pod is deleted (scale-down, a changed template, a restart by the run's controller) the
kubelet runs the container's ``preStop`` hook, then sends SIGTERM, then SIGKILL once the pod's
``terminationGracePeriodSeconds`` are over; the hook's time counts against the grace period, and
a hook still running when it ends gets a one-off 2 s extension before SIGTERM
(https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/#hook-handler-execution,
https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination). Pods stop in
parallel, as the kubelets of a scale-down do, and the hook's output is shown while it runs, so a
scale-down that waits for a job says what it waits for and for how long.

``down`` is the exception: like ``kubectl delete --grace-period=N`` it uses a short grace of its
own (``DOWN_GRACE``) and runs no hook, so tearing a run down never waits minutes.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Progress = Callable[[str], None]

# The kubelet's one-off extension for a preStop hook that outlives the grace period.
HOOK_EXTENSION = 2.0
# `down`'s grace period for every pod (SIGTERM, then SIGKILL); no preStop hook is run.
DOWN_GRACE = 8.0


@dataclass
class PodStop:
    """How to stop one pod: ``hook`` is the argv that runs its preStop inside it (empty: none,
    or the pod no longer runs), ``terminate(seconds)`` sends SIGTERM and SIGKILLs what is left
    after ``seconds``."""

    pod: str
    grace: float
    hook: Sequence[str]
    terminate: Callable[[float], object]
    hook_env: Mapping[str, str] | None = None
    hook_cwd: str | None = None
    shown: Sequence[str] = ()  # the hook as the manifest names it, for messages


def run_hook(stop: PodStop, progress: Progress) -> tuple[int | None, float]:
    """Run the pod's preStop for at most its grace period, showing each line it prints;
    returns (exit code or None when the grace period ended first, seconds taken)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(list(stop.hook), env=dict(stop.hook_env) if stop.hook_env else None,
                            cwd=stop.hook_cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace",
                            start_new_session=True)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip():
                progress(f"{stop.pod}: preStop: {line.rstrip()}")

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code: int | None = proc.wait(timeout=stop.grace)
    except subprocess.TimeoutExpired:
        code = None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    reader.join(timeout=2)
    return code, time.monotonic() - t0


def stop_one(stop: PodStop, progress: Progress) -> str:
    """preStop (if any) within the grace period, then SIGTERM, SIGKILL when it is over; returns
    what happened, e.g. ``preStop exited 0 after 12.3s; stopped 1.1s after SIGTERM``."""
    said = []
    left = stop.grace
    if stop.hook:
        shown = " ".join(stop.shown or stop.hook)
        progress(f"{stop.pod}: running preStop `{shown}` (grace period {stop.grace:.0f}s)")
        try:
            code, took = run_hook(stop, progress)
        except OSError as exc:
            code, took = -1, 0.0
            said.append(f"preStop could not run: {exc}")
        if code is None:
            said.append(f"preStop still running when the grace period of {stop.grace:.0f}s "
                        f"ended: killed it")
            left = HOOK_EXTENSION
        elif code >= 0:
            said.append(f"preStop exited {code} after {took:.1f}s")
            left = max(stop.grace - took, HOOK_EXTENSION)
    t0 = time.monotonic()
    stop.terminate(left)
    said.append(f"stopped {time.monotonic() - t0:.1f}s after SIGTERM (at most {left:.0f}s)")
    summary = "; ".join(said)
    progress(f"{stop.pod}: {summary}")
    return summary


def stop_pods(stops: Sequence[PodStop], progress: Progress) -> dict[str, str]:
    """Stop every pod in parallel (as the kubelets of a scale-down do); pod -> what happened."""
    done: dict[str, str] = {}
    errors: list[BaseException] = []

    def one(stop: PodStop) -> None:
        try:
            done[stop.pod] = stop_one(stop, progress)
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the others stopped
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(s,), name=f"stop-{s.pod}") for s in stops]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return done
