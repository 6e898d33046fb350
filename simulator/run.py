"""One run of the stack: its id, its directory and the state a later ``down RUN_ID`` needs.

Everything the simulator starts carries the run id: processes are recorded in
``<runs>/<run id>/run.json`` (PIDs, process groups, start times, IPs, values, manifests), logs are
``<runs>/<run id>/pods/<pod>.log``, and every address is inside the run's own loopback /24
``127.A.B.0`` (A.B derived from the run id), so a crashed simulator's leftovers can always be
found and removed. Secrets (owner HMAC key, OAuth client secrets) live apart in ``secrets.json``
(mode 0600) and are redacted from run.json.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets as pysecrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from simulator import topology
from simulator.topology import Probe

REPO = Path(__file__).resolve().parent.parent
POD_IP_FIRST, POD_IP_LAST = 10, 199      # pods
SERVICE_IP_FIRST, SERVICE_IP_LAST = 200, 250  # ClusterIP Service proxies
EXTERNAL_IP_FIRST, EXTERNAL_IP_LAST = 2, 9   # outside the release: OAuth, external Spark
CONTROLLER = "controller"  # the run's controller process, an extra of run.json (controller.py)
REDACTED = "<redacted>"
# run.lock file descriptors this process holds, with their depth: the lock is re-entrant here
_HELD: dict[str, list[int]] = {}


class RunError(RuntimeError):
    """A run cannot be found, started or changed; the message says what to do."""


def runs_root() -> Path:
    """``$SPARK_STACK_RUNS_DIR``, else ``$XDG_STATE_HOME/spark-stack/runs``, else ``./.runs``."""
    if os.environ.get("SPARK_STACK_RUNS_DIR"):
        return Path(os.environ["SPARK_STACK_RUNS_DIR"])
    if os.environ.get("XDG_STATE_HOME"):
        return Path(os.environ["XDG_STATE_HOME"]) / "spark-stack" / "runs"
    return Path.cwd() / ".runs"


def new_run_id(scenario: str) -> str:
    return f"{scenario}-{time.strftime('%m%d%H%M%S')}-{pysecrets.token_hex(2)}"


def subnet_for(run_id: str, taken: set[str] | None = None) -> str:
    """``127.A.B`` with A, B in 10..250 from the run id's hash; skips subnets in use.

    In use = another live run claims it, or anything listens on it right now.
    """
    from simulator.local.procs import listening_on  # psutil only when needed

    taken = set(taken or ())
    for salt in range(64):
        digest = hashlib.sha256(f"{run_id}/{salt}".encode()).digest()
        subnet = f"127.{10 + digest[0] % 241}.{10 + digest[1] % 241}"
        if subnet in taken or listening_on(subnet + "."):
            continue
        return subnet
    raise RunError("no free loopback /24 found for this run; run `down` on old runs")


def _probe_from_json(data: dict[str, Any] | None) -> Probe | None:
    if not data:
        return None
    return Probe(**{**data, "command": tuple(data.get("command") or ())})


@dataclass
class PodRecord:
    """One pod of the release as a backend started it; what run.json keeps per pod.

    ``proc`` is the process backend's ProcRecord (as JSON), ``container`` the docker backend's
    container id; the probes are kept so `status` in another process can run them again.
    """

    name: str
    workload: str
    component: str
    template_hash: str
    ip: str
    log: str = ""
    ready: bool = False
    restarts: int = 0
    last_exit: str = ""
    proc: dict[str, Any] | None = None
    container: str | None = None
    cwd: str = ""
    ports: list[int] = field(default_factory=list)
    master_ui_port: int | None = None
    startup: Probe | None = None
    readiness: Probe | None = None
    liveness: Probe | None = None
    # How the kubelet would stop it: lifecycle.preStop.exec.command and the grace period.
    pre_stop: list[str] = field(default_factory=list)
    grace: float = 30.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PodRecord:
        data = dict(data)
        for key in ("startup", "readiness", "liveness"):
            data[key] = _probe_from_json(data.get(key))
        return cls(**data)


@dataclass
class ExtraRecord:
    """Something outside the release (mock OAuth, external Spark) or a helper (Service proxy)."""

    name: str
    ip: str = ""
    port: int = 0
    log: str = ""
    proc: dict[str, Any] | None = None
    container: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunState:
    """What run.json holds. Written after every change, so a crash loses nothing."""

    run_id: str
    scenario: str
    subnet: str
    backend: str = "process"
    release: str = "stack"
    namespace: str = "default"
    values_files: list[str] = field(default_factory=list)
    set_values: list[str] = field(default_factory=list)
    set_string_values: list[str] = field(default_factory=list)
    sim_set_values: list[str] = field(default_factory=list)  # what the simulator adds
    manifests: list[dict[str, Any]] = field(default_factory=list)
    ips: dict[str, str] = field(default_factory=dict)          # "pod/x", "svc/x", "ext/x" → IP
    retired_ips: list[str] = field(default_factory=list)       # of replaced pods: not reused
    pods: dict[str, PodRecord] = field(default_factory=dict)
    extras: dict[str, ExtraRecord] = field(default_factory=dict)  # oauth, proxy, ext spark
    backend_data: dict[str, Any] = field(default_factory=dict)  # e.g. docker network, images
    outputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    stopped: bool = False

    @property
    def dir(self) -> Path:
        return runs_root() / self.run_id

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = dict(self.__dict__)
        data["manifests"] = [_redact(m) for m in self.manifests]
        data["pods"] = {k: v.to_json() for k, v in self.pods.items()}
        data["extras"] = {k: v.to_json() for k, v in self.extras.items()}
        tmp = self.dir / "run.json.tmp"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(self.dir / "run.json")

    @classmethod
    def load(cls, run_id: str) -> RunState:
        path = runs_root() / run_id / "run.json"
        if not path.exists():
            known = sorted(p.parent.name for p in runs_root().glob("*/run.json"))
            raise RunError(f"no run {run_id!r} under {runs_root()} (runs there: "
                           f"{known or 'none'}); set "
                           f"SPARK_STACK_RUNS_DIR if it was started elsewhere")
        data = json.loads(path.read_text())
        data["pods"] = {k: PodRecord.from_json(v) for k, v in data.get("pods", {}).items()}
        data["extras"] = {k: ExtraRecord(**v) for k, v in data.get("extras", {}).items()}
        return cls(**data)

    # --- one writer at a time -----------------------------------------------------------------
    @contextmanager
    def locked(self, blocking: bool = True) -> Iterator[bool]:
        """Hold the run's lock (``flock`` on ``<run dir>/run.lock``) for a load-modify-save.

        The CLI (``up``, ``scale``, ``upgrade``, ``down``) and the run's controller both write
        run.json; whoever holds the lock is the only writer, and reads the pods and extras from
        disk first (``refresh``). Yields False when ``blocking`` is off and another process
        holds it. Re-entrant within one process; the lock dies with its holder.
        """
        path = str(self.dir / "run.lock")
        if path in _HELD:
            _HELD[path][1] += 1
            try:
                yield True
            finally:
                _HELD[path][1] -= 1
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        _HELD[path] = [fd, 1]
        try:
            yield True
        finally:
            _HELD[path][1] -= 1
            if _HELD[path][1] == 0:
                del _HELD[path]
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def refresh(self) -> None:
        """Take the pods, extras and addresses from run.json: the controller may have restarted
        a pod since this state was loaded. Call it holding ``locked()``."""
        path = self.dir / "run.json"
        if path.exists():
            disk = RunState.load(self.run_id)
            self.pods, self.extras, self.ips = disk.pods, disk.extras, disk.ips

    def reload(self) -> None:
        """Everything from run.json, in place: the backend and proxy holding this object see it
        (the controller's view, re-read every loop)."""
        self.__dict__.update(RunState.load(self.run_id).__dict__)

    # --- the release as stored ----------------------------------------------------------------
    def extra_objects(self) -> list[dict[str, Any]]:
        """Objects outside the release the pods reference: the owner Secret and Spark's keys
        (from secrets.json, as ``kubectl create secret`` would have made them)."""
        secrets = self.secrets()
        owner = secrets["owner_secret"]
        out = [topology.secret_manifest(owner["name"], self.namespace,
                                        {owner["key"]: owner["value"]})]
        if spark_keys := secrets.get("spark_security"):
            out.append(topology.secret_manifest(spark_keys["name"], self.namespace,
                                                spark_keys["data"]))
        return out

    def stored_topology(self) -> topology.Topology:
        """The topology of the manifests applied last, with the real owner Secret: what a pod is
        started again from. run.json keeps Secrets redacted: the chart's own Secrets (only
        rendered outside the simulator's settings, e.g. oauth-proxy's cookie) are left out."""
        objects = [m for m in self.manifests
                   if not (m.get("kind") == "Secret"
                           and REDACTED in {*(m.get("data") or {}).values(),
                                            *(m.get("stringData") or {}).values()})]
        return topology.build(objects, self.namespace, self.extra_objects())

    # --- addresses ---------------------------------------------------------------------------
    def ip(self, key: str) -> str:
        """The stable address of ``pod/NAME``, ``svc/NAME`` or ``ext/NAME`` in this run."""
        if key in self.ips:
            return self.ips[key]
        kind = key.split("/", 1)[0]
        first, last = {"pod": (POD_IP_FIRST, POD_IP_LAST),
                       "svc": (SERVICE_IP_FIRST, SERVICE_IP_LAST),
                       "ext": (EXTERNAL_IP_FIRST, EXTERNAL_IP_LAST)}[kind]
        used = set(self.ips.values()) | set(self.retired_ips)
        for n in range(first, last + 1):
            candidate = f"{self.subnet}.{n}"
            if candidate not in used:
                self.ips[key] = candidate
                return candidate
        raise RunError(f"run {self.run_id}: no {kind} address left in {self.subnet}.0/24")

    def retire_ip(self, key: str) -> None:
        """A replaced pod's replacement gets a new address, as on Kubernetes: a Spark master
        refuses a worker re-registering from the address of one it still counts as alive."""
        ip = self.ips.pop(key, None)
        if ip:
            self.retired_ips.append(ip)

    # --- secrets, apart from run.json -------------------------------------------------------
    def secrets(self) -> dict[str, Any]:
        path = self.dir / "secrets.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def save_secrets(self, data: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "secrets.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)


def _redact(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for key in ("data", "stringData"):
        if key in out:
            out[key] = {k: REDACTED for k in out[key]}
    return out
