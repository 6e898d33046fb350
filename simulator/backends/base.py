"""The one interface every backend offers: what `Stack`, `check`, the CLI and the tests speak to.

A backend realizes a ``Topology`` (built from the rendered manifests only) somewhere — local
processes, Docker containers, a kind cluster — and owns everything it started for the run. It is
shaped like a testcontainers module: configuration in the constructor (the run's ``RunState``,
where every backend keeps what a later ``down RUN_ID`` from another process needs), ``apply``
that reconciles (starts and stops only the pods whose template changed, waits until they are
ready and fails loudly with what the probe saw and the log tail), and ``stop`` that always
cleans up, also after the simulator itself was killed.

What lives outside the release (as on a real cluster, where it exists before ``helm install``):
the mock OAuth server and, for the service-only scenario, an external Spark master and workers.
The backend starts those too, because only it knows how to run them next to its pods; the owner
Secret needs no backend: it is an extra object the topology resolves references against.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from simulator.run import RunError, RunState
from simulator.topology import Topology

Progress = Callable[[str], None]

# Names of the things outside the release, as `status` and run.json show them.
OAUTH = "oauth"
EXTERNAL_MASTER = "external-spark-master"


def external_worker(i: int) -> str:
    return f"external-spark-worker-{i}"


class ReadinessError(RunError):
    """A pod (or a thing outside the release) did not become ready: what the probe saw, the
    process or container state, its last log lines and a hint."""


@dataclass
class PodStatus:
    """One pod as `status` shows it, the same on every backend."""

    name: str
    workload: str
    component: str
    ip: str
    alive: bool
    ready: bool
    log: str          # where its log is (a path, or how to read it)
    runs_as: str = ""  # pid 1234 | container 0123abcd
    restarts: int = 0


@dataclass
class ReconcileResult:
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OAuthSpec:
    """The mock OAuth server: its clients (secrets included; never logged) and token audience."""

    clients: Mapping[str, Mapping[str, Any]]
    audience: str
    port: int = 9000


@dataclass(frozen=True)
class ExternalSparkSpec:
    """A Spark master and workers started OUTSIDE the release (the service-only scenario).

    ``keys``: the Secret ``keys_secret``'s data (``rpc-secret``, ``rest-jws-key``), which the
    API gets too; the external daemons read them as files, as the chart mounts them
    (``SPARK_AUTH_SECRET_FILE``, ``SPARK_REST_JWS_KEY_FILE``; docs/security.md)."""

    workers: int = 1
    worker_memory: str = "512m"
    keys_secret: str = ""
    keys: Mapping[str, str] = field(default_factory=dict)

    def key_env(self, keys_dir: str, role: str) -> dict[str, str]:
        """The entrypoint's env for ``role`` with the keys as files in ``keys_dir``."""
        env = {}
        if "rpc-secret" in self.keys:
            env["SPARK_AUTH_SECRET_FILE"] = f"{keys_dir}/rpc-secret"
        if role == "master" and "rest-jws-key" in self.keys:
            env["SPARK_REST_JWS_KEY_FILE"] = f"{keys_dir}/rest-jws-key"
        return env


@dataclass(frozen=True)
class Endpoints:
    """What a client on this machine uses to reach the stack: ``up --json`` prints these."""

    api_url: str | None = None
    token_url: str | None = None
    spark_master_url: str | None = None
    spark_master_ui_url: str | None = None
    metrics_url: str | None = None  # the first API pod's Prometheus /metrics (its own port)

    def as_outputs(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@runtime_checkable
class Backend(Protocol):
    """What every backend implements; see the module docstring."""

    name: str
    state: RunState
    # kinds of object this backend enforces although the topology notes them as not honored
    honors: tuple[str, ...]

    def issuer_url(self, oauth: OAuthSpec) -> str:
        """The OAuth issuer URL as the API pods will reach it (goes into the chart's values)."""

    def external_master_url(self) -> str:
        """The external Spark master's URL as the API pods will reach it."""

    def apply(self, topology: Topology) -> ReconcileResult:
        """Make the running pods match ``topology``; only pods whose template changed move."""

    def pods(self) -> list[PodStatus]:
        """Every pod of the release with its liveness and readiness right now."""

    def kill_pod(self, pod: str) -> str:
        """Kill a pod's main process as a crash would (SIGKILL); says what was killed. The
        process and docker backends also take a thing outside the release by name (``oauth``)."""

    def pod_log(self, pod: str, lines: int = 40) -> str:
        """The last ``lines`` lines of a pod's log (also of a thing outside the release)."""

    def start_oauth(self, spec: OAuthSpec) -> None:
        """Start the mock OAuth server outside the release and wait until it answers."""

    def start_external_spark(self, spec: ExternalSparkSpec) -> None:
        """Start an external Spark master and workers and wait until they are ALIVE."""

    def extra_alive(self, name: str) -> bool:
        """Whether a thing outside the release (``OAUTH``, ``EXTERNAL_MASTER``…) runs."""

    def stop_extra(self, name: str) -> None:
        """Stop one thing outside the release."""

    def extras(self) -> list[str]:
        """Names of the things outside the release that were started."""

    def endpoints(self, topology: Topology) -> Endpoints:
        """The client endpoints of what runs now, reachable from this machine."""

    def cluster_checks(self, topology: Topology) -> list[tuple[str, bool, str]]:
        """Checks only this backend can make (kind: `helm test`, NetworkPolicy enforcement):
        (name, ok, detail) each; empty where the backend has none."""

    def stop(self) -> list[str]:
        """Remove everything of the run; returns what is still left (empty when clean)."""


def claims_dir(pod_dir: Path) -> Path:
    """Where a run keeps its PersistentVolumeClaims (``<run dir>/claims/<claim>``): beside its
    pods' directories (``<run dir>/pods/<pod>``), outliving each of them."""
    return pod_dir.parent.parent / "claims"


def first_service_of(topology: Topology, component: str):
    """The Service a client uses for ``component``: ClusterIP before headless."""
    svcs = [s for s in topology.services
            if any(w.component == component for w in topology.endpoints_of(s))]
    svcs.sort(key=lambda s: s.headless)
    return svcs[0] if svcs else None


def metrics_port(topology: Topology) -> tuple[str, int] | None:
    """(first API pod, its container port named ``metrics``), if the API serves metrics."""
    for w in topology.by_component("api"):
        for p in w.main.ports:
            if p.name == "metrics" and w.replicas:
                return w.pod_names()[0], p.port
    return None


def master_ports(topology: Topology) -> tuple[int, int] | None:
    """(RPC port, UI port) of the release's Spark master, from its container's env."""
    masters = topology.by_component("master")
    if not masters:
        return None
    env = {e.name: e.value for e in masters[0].main.env}
    return (int(env.get("SPARK_MASTER_PORT") or 7077),
            int(env.get("SPARK_MASTER_WEBUI_PORT") or 8080))
