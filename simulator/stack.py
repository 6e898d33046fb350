"""A scenario's stack on a backend: render → topology → apply, plus what lives outside the release.

Outside the release (as on a real cluster, where these exist before ``helm install``): the mock
OAuth server (started only while the API is installed), the owner Secret (created like
``kubectl create secret``, referenced by ``api-service.ownerSecret.existingSecret``), and for
service-only an external Spark master + workers. Every change (``scale``, ``upgrade``) is a
re-render with the new values and a reconcile of the backend: only changed pods are touched
(a replica count alone is set in the manifests applied last, without rendering again).
"""
from __future__ import annotations

import copy
import json
import secrets as pysecrets
import time
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simulator import controller
from simulator import render as rendering
from simulator import scenarios as scen
from simulator import topology
from simulator.backends import (DEFAULT_BACKEND, BackendUnavailable, backend_class,
                                backend_for)
from simulator.backends.base import (OAUTH, Backend, ExternalSparkSpec, OAuthSpec,
                                     ReconcileResult, EXTERNAL_MASTER)
from simulator.local.base import stderr_progress
from simulator.run import RunError, RunState, new_run_id, runs_root
from simulator.waiting import wait_for

OAUTH_PORT = 9000
AUDIENCE = "spark-stack-api"
# Two ordinary clients (ownership: one must not see the other's jobs), an admin, a reader.
CLIENTS = {
    "sim-client-1": ("ordinary", "jobs:read jobs:submit"),
    "sim-client-2": ("ordinary", "jobs:read jobs:submit"),
    "sim-admin": ("admin", "jobs:read jobs:submit jobs:admin"),
    "sim-reader": ("readonly", "jobs:read"),
}



@dataclass
class Client:
    id: str
    secret: str
    scopes: str
    kind: str


class Stack:
    """One run of one scenario; every method persists the run state as it goes."""

    def __init__(self, state: RunState, progress=stderr_progress) -> None:
        self.state = state
        self.progress = progress
        self.backend: Backend = backend_for(state, progress)
        self.topology: topology.Topology | None = None  # what was applied last

    @property
    def dry_run(self) -> bool:
        return bool(self.state.backend_data.get("dry_run"))

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, scenario: scen.Scenario, set_values: Sequence[str] = (),
               backend: str = DEFAULT_BACKEND, progress=stderr_progress, *,
               values_files: Sequence[str] = (),
               set_string_values: Sequence[str] = (), dry_run: bool = False) -> Stack:
        """A new run of ``scenario`` (nothing started yet): the scenario's values, then the
        caller's ``values_files``, ``set_values`` and ``set_string_values`` as helm orders them."""
        backend_cls = backend_class(backend)  # refuses unknown and unavailable backends first
        if dry_run and backend != "kind":  # only kind's commands can be printed instead of run
            raise BackendUnavailable(f"--dry-run is for the kind backend (its commands can be "
                                     f"printed); the {backend} backend runs for real")
        run_id = new_run_id(scenario.name)
        taken = set()
        for p in runs_root().glob("*/run.json"):
            try:
                data = json.loads(p.read_text())
                if not data.get("stopped"):
                    taken.add(data["subnet"])
            except (OSError, ValueError, KeyError):
                continue
        state = RunState(run_id=run_id, scenario=scenario.name,
                         subnet=backend_cls.allocate_subnet(run_id, taken),
                         backend=backend, release=scenario.release,
                         namespace=scenario.namespace)
        state.dir.mkdir(parents=True, exist_ok=True)
        files = [scen.resolve_values_file(scen.scenario_path(scenario.name), f)
                 for f in scenario.values_files]
        if scenario.values:
            inline = state.dir / "scenario-values.yaml"
            inline.write_text(yaml.safe_dump(scenario.values, sort_keys=False))
            files.append(str(inline))
        state.values_files = files + [str(Path(f).resolve()) for f in values_files]
        state.set_values = list(scenario.set) + list(set_values)
        state.set_string_values = list(set_string_values)
        # Outside the release: owner secret and OAuth clients, never in values or logs.
        owner_secret_name = f"{scenario.release}-owner-secret"
        # Spark's RPC secret and REST key (docs/security.md) likewise: a chart-generated one
        # would change on every re-render here (no cluster for `lookup`), and service-only's
        # external Spark must read the same keys. token_urlsafe(48): 64 base64url characters.
        spark_keys_name = f"{scenario.release}-spark-keys"
        state.save_secrets({
            "owner_secret": {"name": owner_secret_name, "key": "owner-secret",
                             "value": pysecrets.token_urlsafe(32)},
            "spark_security": {"name": spark_keys_name,
                               "data": {"rpc-secret": pysecrets.token_hex(32),
                                        "rest-jws-key": pysecrets.token_urlsafe(48)}},
            "clients": {cid: {"secret": pysecrets.token_urlsafe(24), "scopes": scopes,
                              "kind": kind} for cid, (kind, scopes) in CLIENTS.items()},
        })
        if dry_run:
            state.backend_data["dry_run"] = True
        stack = cls(state, progress)
        issuer = stack.backend.issuer_url(stack.oauth_spec())
        host = urlparse(issuer).hostname or ""
        # The chart refuses a plain-http issuer off loopback unless told so explicitly; the mock
        # OAuth server reached by its service name (docker, kind) is exactly that case.
        insecure = ([] if host == "localhost" or host.startswith("127.") or host == "::1"
                    else ["api-service.oauth.insecureIssuer=true"])
        state.sim_set_values = [*insecure, f"api-service.oauth.issuerUrl={issuer}",
                                f"api-service.oauth.audience={AUDIENCE}",
                                f"api-service.ownerSecret.existingSecret={owner_secret_name}",
                                "api-service.ownerSecret.key=owner-secret",
                                f"spark-job.security.existingSecret={spark_keys_name}",
                                f"api-service.sparkSecurity.existingSecret={spark_keys_name}"]
        if scenario.external_spark is not None:
            state.outputs["external_spark"] = scenario.external_spark.model_dump()
            # first, so a kind run's helm line starts with the specification's own command
            state.sim_set_values.insert(
                0, f"api-service.env.sparkMasterUrl={stack.backend.external_master_url()}")
        state.save()
        progress(f"run {run_id} on the {backend} backend: runs dir {state.dir}, addresses "
                 f"{state.subnet}.0/24")
        return stack

    @classmethod
    def load(cls, run_id: str, progress=stderr_progress) -> Stack:
        return cls(RunState.load(run_id), progress)

    # ------------------------------------------------------------------ rendering
    def extra_objects(self) -> list[dict[str, Any]]:
        return self.state.extra_objects()

    def render(self, set_values: Sequence[str] | None = None
               ) -> tuple[list[dict], topology.Topology]:
        """Render as helm would install it: the scenario's and the user's --set first, the
        simulator's own last (they point the API at the mock OAuth server and an external
        master the simulator started, so they must win)."""
        sets = [*(self.state.set_values if set_values is None else set_values),
                *self.state.sim_set_values]
        t0 = time.monotonic()
        rendered = rendering.render(rendering.CHART_DIR, self.state.values_files, sets,
                                    set_string_values=self.state.set_string_values,
                                    release=self.state.release, namespace=self.state.namespace)
        objects = rendered.objects(hooks=False)
        topo = topology.build(objects, self.state.namespace, self.extra_objects())
        self.progress(f"rendered {len(objects)} objects in {1000 * (time.monotonic() - t0):.0f} ms:"
                      f" {', '.join(f'{w.name} x{w.replicas}' for w in topo.workloads) or 'none'}")
        return objects, topo

    # ------------------------------------------------------------------ lifecycle
    def up(self) -> dict[str, Any]:
        with self.state.locked():
            return self._up()

    def _up(self) -> dict[str, Any]:
        t0 = time.monotonic()
        objects, topo = self.render()
        notes = [n for n in topo.notes
                 if not n.subject.startswith(tuple(f"{k}/" for k in self.backend.honors))]
        for note in notes:
            self.progress(f"not honored: {note}")
        self.state.notes = sorted(set(self.state.notes) | {str(n) for n in notes})
        ext = self.state.outputs.get("external_spark")
        if ext and not self.backend.extra_alive(EXTERNAL_MASTER):
            keys = self.state.secrets().get("spark_security") or {}
            self.backend.start_external_spark(
                ExternalSparkSpec(int(ext["workers"]), ext.get("worker_memory", "512m"),
                                  keys.get("name", ""), dict(keys.get("data") or {})))
        self._apply(objects, topo)
        self.progress(f"up {self.state.run_id} in {time.monotonic() - t0:.1f}s")
        return self.outputs()

    def reconcile(self, set_values: list[str] | None = None) -> ReconcileResult:
        """Re-render with ``set_values`` (default: the current ones) and apply the difference."""
        sets = self.state.set_values if set_values is None else set_values
        objects, topo = self.render(sets)  # raises before anything changes on a bad value
        with self.state.locked():
            self.state.refresh()
            self.state.set_values = list(sets)
            return self._apply(objects, topo)

    def scale(self, what: str, replicas: int, set_values: Sequence[str] = (), *,
              rerender: bool = False) -> ReconcileResult:
        """``rerender``: the run's values files or --set-string values changed too (scale's -f),
        so the chart must be rendered again even without ``set_values``."""
        if what not in ("workers", "api"):
            raise RunError(f"scale: {what!r} is not scalable; use `workers` or `api`")
        if replicas < 0:
            raise RunError("scale: replicas must be >= 0")
        key = ("spark-job.spark.worker.replicas" if what == "workers"
               else "api-service.replicaCount")
        if not set_values and not rerender:
            scaled = self._scale_applied("worker" if what == "workers" else "api", key, replicas)
            if scaled is not None:
                return scaled
        return self.upgrade([*set_values, f"{key}={replicas}"])

    def _scale_applied(self, component: str, key: str, replicas: int) -> ReconcileResult | None:
        """Scale without rendering again: a replica count changes nothing in the rendered chart
        but that one workload's ``spec.replicas`` (tests/simulator/test_scale_in_place.py holds
        the chart to it, and the values schema asks only for an integer >= 0, checked above),
        so it is set in the manifests applied last, the run's values get ``key`` as ``upgrade``
        would record it, and the backend reconciles. Skips the Helm engine's load and render and
        every manifest's validation: most of a ``scale`` before its pods start. None (render
        instead) when there is no applied manifest or not exactly one such workload."""
        with self.state.locked():
            self.state.refresh()
            outside = {(o.get("kind"), (o.get("metadata") or {}).get("name"))
                       for o in self.extra_objects()}
            objects = [copy.deepcopy(o) for o in self.state.manifests
                       if (o.get("kind"), (o.get("metadata") or {}).get("name")) not in outside]
            if not objects:
                return None
            targets = {(w.kind, w.name) for w in topology.build(
                objects, self.state.namespace, self.extra_objects()).by_component(component)}
            if len(targets) != 1:
                return None
            for obj in objects:
                if (obj.get("kind"), obj["metadata"].get("name")) in targets:
                    obj["spec"]["replicas"] = replicas
            topo = topology.build(objects, self.state.namespace, self.extra_objects())
            self.state.set_values = [s for s in self.state.set_values
                                     if s.split("=", 1)[0] != key] + [f"{key}={replicas}"]
            self.progress(f"scaled {'/'.join(next(iter(targets)))} to {replicas} in the applied "
                          f"manifests (a replica count needs no render)")
            return self._apply(objects, topo)

    def upgrade(self, set_values: Sequence[str]) -> ReconcileResult:
        """The run's --set values with these replacing the same keys, then reconcile."""
        keys = {s.split("=", 1)[0] for s in set_values}
        sets = [s for s in self.state.set_values if s.split("=", 1)[0] not in keys]
        return self.reconcile(sets + list(set_values))

    def down(self) -> list[str]:
        """The controller first (it would restart what is being stopped), then everything."""
        with self.state.locked():
            self.state.refresh()
            controller.stop(self.state, self.progress)
            return self.backend.stop()

    # ------------------------------------------------------------------ internals
    def _apply(self, objects: list[dict], topo: topology.Topology) -> ReconcileResult:
        self.topology = topo
        self.state.manifests = objects + self.extra_objects()
        has_api = bool(topo.by_component("api"))
        if has_api and not self.backend.extra_alive(OAUTH):
            self.backend.start_oauth(self.oauth_spec())
        result = self.backend.apply(topo)
        if not has_api and OAUTH in self.backend.extras():
            self.progress("the API is gone: stopping the mock OAuth server")
            self.backend.stop_extra(OAUTH)
        self.progress(f"reconciled: started {result.started or 'nothing'}, stopped "
                      f"{result.stopped or 'nothing'}, kept {len(result.kept)} pod(s)")
        for note in result.notes:
            self.progress(f"not honored: {note}")
        self._set_outputs(topo)
        expected = self.expected_workers(topo)
        if expected is not None and not self.dry_run:
            self.wait_alive_workers(expected)
        if getattr(self.backend, "supervised", False) and not self.dry_run:
            controller.ensure(self.state, self.progress)  # kind: Kubernetes itself does this
        self.state.save()
        return result

    def expected_workers(self, topo: topology.Topology) -> int | None:
        workers = topo.by_component("worker")
        if topo.by_component("master"):
            return sum(w.replicas for w in workers)
        if self.state.outputs.get("external_spark"):
            return int(self.state.outputs["external_spark"]["workers"])
        return None

    def master_ui(self) -> str | None:
        return self.state.outputs.get("spark_master_ui_url")

    def master_json(self) -> dict[str, Any]:
        ui = self.master_ui()
        if not ui:
            raise RunError("this run has no Spark master")
        with urllib.request.urlopen(f"{ui}/json/", timeout=5) as resp:
            return json.loads(resp.read())

    def wait_alive_workers(self, expected: int, timeout: float = 90.0) -> int:
        self.progress(f"waiting for {expected} ALIVE worker(s) at {self.master_ui()}/json/")

        def probe() -> tuple[bool, str]:
            seen = self.master_json().get("aliveworkers")
            return seen == expected, f"the master says {seen}"

        waited = wait_for(probe, timeout)
        if not waited.ok:
            raise RunError(f"expected {expected} ALIVE workers, {waited.last} after "
                           f"{timeout:.0f}s; worker logs: {self.state.dir / 'pods'}")
        self.progress(f"{expected} worker(s) ALIVE after {waited.seconds:.1f}s")
        return expected

    def _set_outputs(self, topo: topology.Topology) -> None:
        out = self.state.outputs
        for key in ("api_url", "spark_master_url", "spark_master_ui_url", "token_url"):
            out.pop(key, None)
        out.update(self.backend.endpoints(topo).as_outputs())

    def outputs(self) -> dict[str, Any]:
        """What `up --json` prints; client secrets are added by the caller only for --json."""
        out = {"run_id": self.state.run_id, "run_dir": str(self.state.dir)}
        out.update({k: v for k, v in self.state.outputs.items() if k != "external_spark"})
        return out

    def clients(self) -> list[Client]:
        return [Client(cid, c["secret"], c["scopes"], c["kind"])
                for cid, c in self.state.secrets().get("clients", {}).items()]

    def oauth_spec(self) -> OAuthSpec:
        return OAuthSpec({c.id: {"secret": c.secret, "scopes": c.scopes.split()}
                          for c in self.clients()}, AUDIENCE, OAUTH_PORT)


def status(stack: Stack) -> dict[str, Any]:
    pods = stack.backend.pods()
    out: dict[str, Any] = {"run_id": stack.state.run_id, "backend": stack.state.backend,
                           "stopped": stack.state.stopped,
                           "pods": [dict(p.__dict__, last_exit=_last_exit(stack.state, p.name))
                                    for p in pods],
                           "extras": {k: stack.backend.extra_alive(k)
                                      for k in stack.backend.extras()},
                           "set_values": stack.state.set_values}
    if getattr(stack.backend, "supervised", False):
        out["controller"] = controller.alive(stack.state)
    try:
        j = stack.master_json()
        out["alive_workers"] = j.get("aliveworkers")
    except (OSError, RunError):
        out["alive_workers"] = None
    return out


def _last_exit(state: RunState, pod: str) -> str:
    """Why the pod's previous process or container ended (the controller records it)."""
    rec = state.pods.get(pod)
    return rec.last_exit if rec else ""


def known_run_dirs() -> list[Path]:
    return sorted(p.parent for p in runs_root().glob("*/run.json"))
