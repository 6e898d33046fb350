"""The run's controller: the simulator's kubelet and ReplicaSet on the process and docker backends.

``python -m simulator.controller RUN_ID`` is one detached process per run, started by ``up``
after the first apply (``ensure``), recorded in run.json as the extra ``controller`` and stopped
first by ``down`` (``stop``), also after the simulator itself was SIGKILLed. On kind, Kubernetes
does all of this and no controller is started.

Every ``interval`` seconds, holding the run's lock (``RunState.locked``; it steps aside while
the CLI holds it for ``up``/``scale``/``upgrade``/``down``) and with run.json re-read, it:
- asks the backend whether each pod still runs (``pod_exit``); a pod that exited is restarted
  per its ``restartPolicy`` (Always; OnFailure: a non-zero or unknown exit; Never: never);
- runs each pod's startup, readiness and liveness probes with the kubelet's rules
  (``ProbeTracker``): a failed startup or liveness probe restarts the pod (its process is
  stopped with the pod's grace period first), readiness sets ``ready`` and the backend's
  Service endpoints follow (``sync_endpoints``: a not-ready API pod gets no traffic);
- restarts after the kubelet's back-off: the first restart at once, then ``backoff`` seconds
  doubling up to ``cap``, forgotten once the pod ran ``reset`` seconds without a restart
  (Kubernetes: 10 s, 300 s, 10 min; https://kubernetes.io/docs/concepts/workloads/pods/
  pod-lifecycle/#container-restarts). ``restarts`` and ``last_exit`` go into run.json.
A pod the CLI removed on purpose is simply no longer in run.json, so it is never restarted.
One line per action goes to ``<run dir>/controller.log``.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.local.procs import ProcRecord, launch, terminate
from simulator.run import CONTROLLER, REPO, ExtraRecord, RunError, RunState

BACKOFF_ENV = "SPARK_STACK_RESTART_BACKOFF"
BACKOFF_CAP_ENV = "SPARK_STACK_RESTART_BACKOFF_CAP"
BACKOFF_RESET_ENV = "SPARK_STACK_RESTART_BACKOFF_RESET"
INTERVAL_ENV = "SPARK_STACK_CONTROLLER_INTERVAL"


@dataclass(frozen=True)
class Settings:
    """The kubelet's restart back-off (seconds), shortened by the environment for tests."""

    backoff: float = 10.0
    cap: float = 300.0
    reset: float = 600.0
    interval: float = 0.5

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        values = {}
        for name, var in (("backoff", BACKOFF_ENV), ("cap", BACKOFF_CAP_ENV),
                          ("reset", BACKOFF_RESET_ENV), ("interval", INTERVAL_ENV)):
            if env.get(var, "") == "":
                continue
            try:
                values[name] = float(env[var])
            except ValueError:
                values[name] = -1.0
            if values[name] < 0 or (name == "interval" and values[name] == 0):
                raise RunError(f"{var}={env[var]!r}: must be a number of seconds "
                               f"({'> 0' if name == 'interval' else '>= 0'}), e.g. {var}=1")
        settings = cls(**values)
        if settings.cap < settings.backoff:
            raise RunError(f"{BACKOFF_CAP_ENV}={settings.cap:g} is below {BACKOFF_ENV}="
                           f"{settings.backoff:g}: the cap must be at least the first back-off")
        return settings

    def delay(self, crashes: int) -> float:
        """Back-off before the restart after ``crashes`` crashes in a row (1 = the first)."""
        if crashes <= 1:
            return 0.0
        return min(self.cap, self.backoff * 2 ** (crashes - 2))


def should_restart(policy: str, code: int | None) -> bool:
    """The pod's ``restartPolicy`` for an exit with ``code`` (None: not known, a failure)."""
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return code != 0
    return True


# ------------------------------------------------------------------ started and stopped by Stack
def record(state: RunState) -> ProcRecord | None:
    extra = state.extras.get(CONTROLLER)
    return ProcRecord.from_json(extra.proc) if extra and extra.proc else None


def alive(state: RunState) -> bool:
    rec = record(state)
    return bool(rec and rec.alive())


def ensure(state: RunState, progress: Callable[[str], None]) -> None:
    """Start the run's controller unless it runs; its environment is ours (runs dir, back-off)."""
    if alive(state):
        return
    Settings.from_env()  # a bad setting is the user's error, said here, not in a detached log
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    # Where this run lives, absolute: the controller runs in the run's directory, where the
    # default runs dir (./.runs of the caller) would point somewhere else.
    env["SPARK_STACK_RUNS_DIR"] = str(state.dir.parent.resolve())
    log = state.dir / "controller.log"
    rec, _popen = launch(CONTROLLER, [sys.executable, "-m", "simulator.controller",
                                      state.run_id], env, log, cwd=state.dir)
    state.extras[CONTROLLER] = ExtraRecord(CONTROLLER, log=str(log), proc=rec.to_json())
    state.save()
    progress(f"started the run's controller (restarts pods, follows readiness), pid {rec.pid}; "
             f"log {log}")


def stop(state: RunState, progress: Callable[[str], None]) -> None:
    """Stop the controller (call it holding the run's lock, so it is not mid-restart)."""
    rec = record(state)
    if rec is None:
        return
    left = terminate([rec], grace=5)
    state.extras.pop(CONTROLLER, None)
    state.save()
    progress(f"stopped the run's controller (pid {rec.pid})" + (f"; LEFT {left}" if left else ""))


# ------------------------------------------------------------------ the loop
@dataclass
class _Watch:
    """The controller's view of one incarnation of a pod (its process or container)."""

    ident: str
    tracker: object | None = None
    restart_at: float | None = None   # scheduled restart (dead, or failed its probes)
    gave_up: bool = False             # restartPolicy says no


@dataclass
class _Backoff:
    crashes: int = 0
    started: float = field(default_factory=time.monotonic)


def _ident(rec) -> str:
    return json.dumps([rec.proc and rec.proc.get("pid"), rec.container, rec.restarts])


class Controller:
    def __init__(self, run_id: str, settings: Settings, log: Callable[[str], None]) -> None:
        from simulator.backends import backend_for
        self.settings = settings
        self.log = log
        self.state = RunState.load(run_id)
        # one backend for the controller's life: it keeps the processes it started (exit codes)
        self.backend = backend_for(self.state, log)
        self.watches: dict[str, _Watch] = {}
        self.backoff: dict[str, _Backoff] = {}
        self._topo_key = ""
        self._topo = None

    def topology(self):
        key = hashlib.sha256(json.dumps(self.state.manifests, sort_keys=True).encode()).hexdigest()
        if key != self._topo_key:
            self._topo, self._topo_key = self.state.stored_topology(), key
        return self._topo

    def run(self) -> None:
        self.log(f"controller for run {self.state.run_id} ({self.state.backend} backend): "
                 f"back-off {self.settings.backoff:g}s doubling to {self.settings.cap:g}s, reset "
                 f"after {self.settings.reset:g}s, every {self.settings.interval:g}s")
        reap = getattr(self.backend, "reap", None)
        while True:
            if reap is not None:  # also while the CLI holds the lock and stops our children
                reap()
            with self.state.locked(blocking=False) as mine:
                if mine:
                    if not (self.state.dir / "run.json").exists():
                        self.log("run.json is gone: exiting")
                        return
                    self.state.reload()
                    if self.state.stopped:
                        self.log("the run is stopped: exiting")
                        return
                    try:
                        self.step()
                    except Exception as exc:  # noqa: BLE001 - say it, look again next time
                        self.log(f"step failed: {type(exc).__name__}: {exc}")
            time.sleep(self.settings.interval)

    def step(self) -> None:
        now = time.monotonic()
        for gone in set(self.watches) - set(self.state.pods):
            self.log(f"{gone}: removed by a reconcile; no longer watched")
            self.watches.pop(gone)
            self.backoff.pop(gone, None)
        changed = endpoints = False
        for name in sorted(self.state.pods):
            rec = self.state.pods[name]
            watch = self.watches.get(name)
            if watch is None or watch.ident != _ident(rec):
                watch = self.watches[name] = _Watch(_ident(rec))
            if watch.gave_up:
                continue
            if watch.restart_at is not None:
                if now >= watch.restart_at:
                    self._restart(name)
                    changed = endpoints = True
                continue
            exited = self.backend.pod_exit(name)
            why = None
            if exited is not None:
                code, why = exited
            else:
                if watch.tracker is None:
                    watch.tracker = self.backend.probe_tracker(rec)
                why = watch.tracker.tick()
                code = 137  # the kubelet kills a container whose startup or liveness failed
                if why is None and watch.tracker.ready != rec.ready:
                    rec.ready = watch.tracker.ready
                    changed = endpoints = True
                    self.log(f"{name}: {'ready' if rec.ready else 'NOT ready'} "
                             f"({watch.tracker.seen()})")
            if why is None:
                continue
            rec.last_exit, changed = why, True
            if rec.ready:
                rec.ready, endpoints = False, True
            workload = self._workload(name)
            policy = workload.restart_policy if workload else "Always"
            if not should_restart(policy, code):
                watch.gave_up = True
                self.log(f"{name}: {why}; restartPolicy {policy}: not restarted")
                continue
            back = self.backoff.setdefault(name, _Backoff())
            if now - back.started > self.settings.reset:
                back.crashes = 0
            back.crashes += 1
            delay = self.settings.delay(back.crashes)
            watch.restart_at = now + delay
            self.log(f"{name}: {why}; restart {rec.restarts + 1} in {delay:g}s "
                     f"(restartPolicy {policy}, back-off)")
            if delay == 0:
                self._restart(name)
        if endpoints:
            self.backend.sync_endpoints(self.topology())
            self.state.outputs.update(self.backend.endpoints(self.topology()).as_outputs())
        if changed or endpoints:
            self.state.save()

    def _workload(self, pod: str):
        return next((w for w in self.topology().workloads if pod in w.pod_names()), None)

    def _restart(self, name: str) -> None:
        rec = self.state.pods[name]
        rec.restarts += 1  # saved with the new process (or at the end of the step if it failed)
        rec.ready = False
        try:
            what = self.backend.restart_pod(name, self.topology())
        except Exception as exc:  # noqa: BLE001 - a detached loop says why and tries again
            self.log(f"{name}: restart {rec.restarts} FAILED: {type(exc).__name__}: {exc}")
            self.watches.pop(name, None)
            return
        self.backoff.setdefault(name, _Backoff()).started = time.monotonic()
        self.watches.pop(name, None)
        self.log(f"{name}: restarted ({what}), restarts {rec.restarts}")


def _log_line(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def _on_sigterm(*_: object) -> None:
    """Exit once: ``down`` signals the process group and each member, so two SIGTERMs come."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(0)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m simulator.controller RUN_ID", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        Controller(argv[0], Settings.from_env(), _log_line).run()
    except RunError as exc:
        _log_line(f"Error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
