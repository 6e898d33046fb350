"""A scenario's stack on a backend: render → topology → apply, plus what lives outside the release.

Outside the release (as on a real cluster, where these exist before ``helm install``): the mock
OAuth server (started only while the API is installed), the owner Secret (created like
``kubectl create secret``, referenced by ``api-service.ownerSecret.existingSecret``), and for
service-only an external Spark master + workers. Every change (``scale``, ``upgrade``) is a
re-render with the new values and a reconcile of the backend: only changed pods are touched.
"""
from __future__ import annotations

import json
import os
import secrets as pysecrets
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simulator import render as rendering
from simulator import scenarios as scen
from simulator import topology
from simulator.backends.process import (ProcessBackend, ReconcileResult, image_kind,
                                        service_of, spark_env, SPARK_ENTRYPOINT)
from simulator.run import REPO, RunError, RunState, new_run_id, subnet_for, runs_root
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
BACKENDS = ("process", "docker", "kind")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Client:
    id: str
    secret: str
    scopes: str
    kind: str


def backend_for(state: RunState, progress=_stderr) -> ProcessBackend:
    if state.backend != "process":
        raise RunError(f"backend {state.backend!r} is not implemented yet; use --backend process "
                       f"(docker and kind: see README)")
    return ProcessBackend(state, progress)


class Stack:
    """One run of one scenario; every method persists the run state as it goes."""

    def __init__(self, state: RunState, progress=_stderr) -> None:
        self.state = state
        self.progress = progress
        self.backend = backend_for(state, progress)

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, scenario: scen.Scenario, set_values: list[str] = (),
               backend: str = "process", progress=_stderr) -> Stack:
        if backend not in BACKENDS:
            raise RunError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
        if backend != "process":
            raise RunError(f"backend {backend!r} is not implemented yet; use --backend process")
        run_id = new_run_id(scenario.name)
        taken = set()
        for p in runs_root().glob("*/run.json"):
            try:
                data = json.loads(p.read_text())
                if not data.get("stopped"):
                    taken.add(data["subnet"])
            except (OSError, ValueError, KeyError):
                continue
        state = RunState(run_id=run_id, scenario=scenario.name, subnet=subnet_for(run_id, taken),
                         backend=backend, release=scenario.release,
                         namespace=scenario.namespace)
        state.dir.mkdir(parents=True, exist_ok=True)
        files = [scen.resolve_values_file(scen.scenario_path(scenario.name), f)
                 for f in scenario.values_files]
        if scenario.values:
            inline = state.dir / "scenario-values.yaml"
            inline.write_text(yaml.safe_dump(scenario.values, sort_keys=False))
            files.append(str(inline))
        state.values_files = files
        state.set_values = list(scenario.set) + list(set_values)
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
        issuer = f"http://{state.ip('ext/oauth')}:{OAUTH_PORT}"
        state.sim_set_values = [f"api-service.oauth.issuerUrl={issuer}",
                                f"api-service.oauth.audience={AUDIENCE}",
                                f"api-service.ownerSecret.existingSecret={owner_secret_name}",
                                "api-service.ownerSecret.key=owner-secret",
                                f"spark-job.security.existingSecret={spark_keys_name}",
                                f"api-service.sparkSecurity.existingSecret={spark_keys_name}"]
        if scenario.external_spark is not None:
            state.outputs["external_spark"] = scenario.external_spark.model_dump()
            master_ip = state.ip("ext/spark-master")
            state.sim_set_values.append(
                f"api-service.env.sparkMasterUrl=spark://{master_ip}:7077")
        state.save()
        progress(f"run {run_id}: runs dir {state.dir}, addresses {state.subnet}.0/24")
        return cls(state, progress)

    @classmethod
    def load(cls, run_id: str, progress=_stderr) -> Stack:
        return cls(RunState.load(run_id), progress)

    # ------------------------------------------------------------------ rendering
    def extra_objects(self) -> list[dict[str, Any]]:
        owner = self.state.secrets()["owner_secret"]
        out = [topology.secret_manifest(owner["name"], self.state.namespace,
                                        {owner["key"]: owner["value"]})]
        if spark_keys := self.state.secrets().get("spark_security"):
            out.append(topology.secret_manifest(spark_keys["name"], self.state.namespace,
                                                spark_keys["data"]))
        return out

    def render(self, set_values: list[str] | None = None) -> tuple[list[dict], topology.Topology]:
        sets = self.state.sim_set_values + (self.state.set_values if set_values is None
                                            else set_values)
        t0 = time.monotonic()
        rendered = rendering.render(rendering.CHART_DIR, self.state.values_files, sets,
                                    release=self.state.release, namespace=self.state.namespace)
        objects = rendered.objects(hooks=False)
        topo = topology.build(objects, self.state.namespace, self.extra_objects())
        self.progress(f"rendered {len(objects)} objects in {1000 * (time.monotonic() - t0):.0f} ms:"
                      f" {', '.join(f'{w.name} x{w.replicas}' for w in topo.workloads) or 'none'}")
        return objects, topo

    # ------------------------------------------------------------------ lifecycle
    def up(self) -> dict[str, Any]:
        t0 = time.monotonic()
        objects, topo = self.render()
        for note in topo.notes:
            self.progress(f"not honored: {note}")
        self.state.notes = sorted(set(self.state.notes) | {str(n) for n in topo.notes})
        if (self.state.outputs.get("external_spark")
                and not self.backend.extra_alive("external-spark-master")):
            self._start_external_spark()
        self._apply(objects, topo)
        self.progress(f"up {self.state.run_id} in {time.monotonic() - t0:.1f}s")
        return self.outputs()

    def reconcile(self, set_values: list[str] | None = None) -> ReconcileResult:
        """Re-render with ``set_values`` (default: the current ones) and apply the difference."""
        sets = self.state.set_values if set_values is None else set_values
        objects, topo = self.render(sets)  # raises before anything changes on a bad value
        self.state.set_values = list(sets)
        return self._apply(objects, topo)

    def scale(self, what: str, replicas: int) -> ReconcileResult:
        if what not in ("workers", "api"):
            raise RunError(f"scale: {what!r} is not scalable; use `workers` or `api`")
        if replicas < 0:
            raise RunError("scale: replicas must be >= 0")
        key = ("spark-job.spark.worker.replicas" if what == "workers"
               else "api-service.replicaCount")
        sets = [s for s in self.state.set_values if not s.startswith(key + "=")]
        return self.reconcile(sets + [f"{key}={replicas}"])

    def upgrade(self, set_values: list[str]) -> ReconcileResult:
        keys = {s.split("=", 1)[0] for s in set_values}
        sets = [s for s in self.state.set_values if s.split("=", 1)[0] not in keys]
        return self.reconcile(sets + list(set_values))

    def down(self) -> list[str]:
        return self.backend.stop()

    # ------------------------------------------------------------------ internals
    def _apply(self, objects: list[dict], topo: topology.Topology) -> ReconcileResult:
        self.state.manifests = objects + self.extra_objects()
        has_api = any(image_kind(w.main) == "api-service" for w in topo.workloads)
        if has_api and not self.backend.extra_alive("oauth"):
            self._start_oauth()
        result = self.backend.apply(topo)
        if not has_api and "oauth" in self.state.extras:
            self.progress("the API is gone: stopping the mock OAuth server")
            self.backend.stop_extra("oauth")
        self.progress(f"reconciled: started {result.started or 'nothing'}, stopped "
                      f"{result.stopped or 'nothing'}, kept {len(result.kept)} pod(s)")
        for note in result.notes:
            self.progress(f"not honored: {note}")
        self._set_outputs(topo)
        expected = self.expected_workers(topo)
        if expected is not None:
            self.wait_alive_workers(expected)
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
        masters = topo.by_component("master")
        if masters:
            pod = masters[0].pod_names()[0]
            ip = self.state.ips[f"pod/{pod}"]
            env = {e.name: e.value for e in masters[0].main.env}
            out["spark_master_url"] = f"spark://{ip}:{env.get('SPARK_MASTER_PORT') or 7077}"
            out["spark_master_ui_url"] = f"http://{ip}:{env.get('SPARK_MASTER_WEBUI_PORT') or 8080}"
        elif "ext/spark-master" in self.state.ips:
            ip = self.state.ips["ext/spark-master"]
            out["spark_master_url"] = f"spark://{ip}:7077"
            out["spark_master_ui_url"] = f"http://{ip}:8080"
        svc = service_of(topo, "api")
        if svc is not None:
            ip = self.state.ips.get(f"svc/{svc.name}")
            if svc.headless:
                ip = self.state.ips.get(f"pod/{topo.endpoints_of(svc)[0].pod_names()[0]}")
            out["api_url"] = f"http://{ip}:{svc.ports[0].port}"
            out["token_url"] = f"http://{self.state.ips['ext/oauth']}:{OAUTH_PORT}/token"

    def outputs(self) -> dict[str, Any]:
        """What `up --json` prints; client secrets are added by the caller only for --json."""
        out = {"run_id": self.state.run_id, "run_dir": str(self.state.dir)}
        out.update({k: v for k, v in self.state.outputs.items() if k != "external_spark"})
        return out

    def clients(self) -> list[Client]:
        return [Client(cid, c["secret"], c["scopes"], c["kind"])
                for cid, c in self.state.secrets().get("clients", {}).items()]

    def _start_oauth(self) -> None:
        clients_file = self.state.dir / "oauth-clients.json"
        data = {"clients": {c.id: {"secret": c.secret, "scopes": c.scopes.split()}
                            for c in self.clients()}}
        clients_file.touch(mode=0o600)
        clients_file.write_text(json.dumps(data))
        ip = self.state.ip("ext/oauth")
        argv = [sys.executable, "-m", "simulator.oauth", "--host", ip, "--port", str(OAUTH_PORT),
                "--clients", str(clients_file), "--audience", AUDIENCE]

        def ready() -> tuple[bool, str]:
            url = f"http://{ip}:{OAUTH_PORT}/.well-known/openid-configuration"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status == 200, f"GET {url} → {resp.status}"

        self.backend.launch_extra("oauth", argv, {"PYTHONPATH": str(REPO)}, ready)

    def _start_external_spark(self) -> None:
        ext = self.state.outputs["external_spark"]
        master_ip = self.state.ip("ext/spark-master")
        spark_url = f"spark://{master_ip}:7077"

        # The same Spark keys as the API's Secret, as files (what the chart would mount).
        security: dict[str, dict[str, str]] = {"master": {}, "worker": {}}
        if spark_keys := self.state.secrets().get("spark_security"):
            keys_dir = self.state.dir / "external-spark-keys"
            keys_dir.mkdir(mode=0o700, exist_ok=True)
            for key, value in spark_keys["data"].items():
                fd = os.open(keys_dir / key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(value)
            security["worker"] = {"SPARK_AUTH_SECRET_FILE": str(keys_dir / "rpc-secret")}
            security["master"] = {**security["worker"],
                                  "SPARK_REST_JWS_KEY_FILE": str(keys_dir / "rest-jws-key")}

        def master_ready() -> tuple[bool, str]:
            with urllib.request.urlopen(f"http://{master_ip}:8080/json/", timeout=2) as resp:
                status = json.loads(resp.read()).get("status")
            return status == "ALIVE", f"external master /json/ status {status}"

        self.backend.launch_extra(
            "external-spark-master", ["bash", str(SPARK_ENTRYPOINT), "master"],
            {**spark_env(master_ip, "master", self.state.dir), **security["master"]},
            master_ready, timeout=120)
        for i in range(int(ext["workers"])):
            ip = self.state.ip(f"ext/spark-worker-{i}")

            def worker_ready(ip: str = ip) -> tuple[bool, str]:
                with urllib.request.urlopen(f"http://{ip}:8081/json/", timeout=2) as resp:
                    return resp.status == 200, f"worker UI {resp.status}"

            self.backend.launch_extra(
                f"external-spark-worker-{i}", ["bash", str(SPARK_ENTRYPOINT), "worker"],
                {**spark_env(ip, "worker", self.state.dir, spark_url,
                             memory=ext.get("worker_memory", "512m")), **security["worker"]},
                worker_ready, timeout=120)


def status(stack: Stack) -> dict[str, Any]:
    pods = stack.backend.pods()
    out: dict[str, Any] = {"run_id": stack.state.run_id, "stopped": stack.state.stopped,
                           "pods": [p.__dict__ for p in pods],
                           "extras": {k: bool(v.get("proc")) and stack.backend.extra_alive(k)
                                      for k, v in stack.state.extras.items()},
                           "set_values": stack.state.set_values}
    try:
        j = stack.master_json()
        out["alive_workers"] = j.get("aliveworkers")
    except (OSError, RunError):
        out["alive_workers"] = None
    return out


def known_run_dirs() -> list[Path]:
    return sorted(p.parent for p in runs_root().glob("*/run.json"))
