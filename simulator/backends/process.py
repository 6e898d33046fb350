"""The default backend: every replica of every workload is one local process on its own loopback IP.

Shaped like a testcontainers module: configuration in the constructor (the run state), ``start``
returns the running stack, a readiness wait that fails loudly (probe result, process status, last
log lines, a hint), ``stop`` that always cleans up. ``apply`` is the reconcile both share: it
diffs the desired topology against what runs and starts/stops only the pods that changed, so a
pod whose template is unchanged keeps its PID.

How a pod becomes a process (the image's own entrypoint, nothing else):
- image repository ending in ``spark-job`` → ``bash images/spark-job/entrypoint.sh ARGS`` with
  ``SPARK_HOME`` = the installed pyspark package directory;
- ``api-service`` → ``python -m spark_api`` with ``images/api-service`` on ``PYTHONPATH``;
- anything else is not run, and said so.
``status.podIP`` is the pod's own ``127.A.B.N``; Service host names in env values and args resolve
to the headless Service's endpoint pod or to the ClusterIP Service's proxy address. Paths under a
volume's mountPath become the pod's own directory (emptyDir honored; Secret/ConfigMap files
written there), image paths (``/opt/spark-jobs``) the repository's copy.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simulator.backends import procs
from simulator.backends.cds_warmup import ensure_archives
from simulator.backends.procs import ProcRecord
from simulator.run import REPO, RunState
from simulator.topology import Container, Service, Topology, Workload, resolve_hosts
from simulator.waiting import wait_for

SPARK_ENTRYPOINT = REPO / "images" / "spark-job" / "entrypoint.sh"
SPARK_JOBS = REPO / "images" / "spark-job" / "jobs"
API_ROOT = REPO / "images" / "api-service"
CDS_CACHE = Path(os.environ.get("SPARK_STACK_CDS_DIR",
                                Path.home() / ".cache" / "spark-stack" / "cds"))
# Host variables a pod may see: enough to find java and python, nothing of the user's session.
_HOST_ENV = ("PATH", "JAVA_HOME", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")

Progress = Callable[[str], None]


def spark_home() -> str:
    import pyspark  # the process backend needs it; imported late so `render` works without it
    return str(Path(pyspark.__file__).resolve().parent)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class ReadinessError(RuntimeError):
    """A pod did not become ready: says what the probe saw, the process status and its log."""


@dataclass
class PodStatus:
    name: str
    workload: str
    component: str
    ip: str
    pid: int | None
    alive: bool
    ready: bool
    log: str


@dataclass
class ReconcileResult:
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def image_kind(container: Container) -> str | None:
    repo = container.image_repo
    if repo.endswith("spark-job"):
        return "spark-job"
    if repo.endswith("api-service"):
        return "api-service"
    return None


class ProcessBackend:
    """Realizes a ``Topology`` as local processes; all state lives in ``RunState`` (run.json)."""

    name = "process"

    def __init__(self, state: RunState, progress: Progress = _stderr,
                 ready_timeout: float = 120.0) -> None:
        self.state = state
        self.progress = progress
        self.ready_timeout = ready_timeout
        self._popens: dict[int, subprocess.Popen] = {}

    # ---------------------------------------------------------------- the testcontainers shape
    def start(self, topology: Topology) -> ProcessBackend:
        """Bring ``topology`` up from nothing and wait until every pod is ready."""
        self.apply(topology)
        return self

    def stop(self) -> list[str]:
        """Kill every process of the run (pods, proxy, extras) by process group; returns leftovers.

        Works from any process: it reads only the run state, and checks start times first.
        """
        records = [ProcRecord.from_json(p["proc"]) for p in self.state.pods.values()
                   if p.get("proc")]
        records += [ProcRecord.from_json(e["proc"]) for e in self.state.extras.values()
                    if e.get("proc")]
        self.progress(f"down {self.state.run_id}: stopping {len(records)} process group(s)")
        t0 = time.monotonic()
        leftovers = procs.terminate(records)
        for pod in self.state.pods.values():
            pod["proc"] = None
        for extra in self.state.extras.values():
            extra["proc"] = None
        listening = procs.listening_on(self.state.subnet + ".")
        self.state.stopped = True
        self.state.save()
        self.progress(f"down {self.state.run_id}: done in {time.monotonic() - t0:.1f}s"
                      + (f"; LEFT: {leftovers + listening}" if leftovers or listening else
                         "; no process and no listener left"))
        return leftovers + listening

    # ---------------------------------------------------------------- reconcile
    def apply(self, topology: Topology) -> ReconcileResult:
        """Make the running pods match ``topology``; only changed pods are touched."""
        result = ReconcileResult()
        desired: dict[str, Workload] = {}
        for w in topology.workloads:
            for pod in w.pod_names():
                desired[pod] = w
        # 1. stop pods that are gone, changed, or died
        to_stop = []
        for pod, info in list(self.state.pods.items()):
            w = desired.get(pod)
            rec = ProcRecord.from_json(info["proc"]) if info.get("proc") else None
            if w is None or w.template_hash != info["template_hash"] or not (rec and rec.alive()):
                to_stop.append(pod)
        if to_stop:
            self.progress(f"stopping {', '.join(to_stop)}")
            procs.terminate([ProcRecord.from_json(self.state.pods[p]["proc"]) for p in to_stop
                             if self.state.pods[p].get("proc")])
            for pod in to_stop:
                self.state.pods.pop(pod)
            result.stopped = to_stop
        # 2. addresses: pods keep their IP across restarts, Services get theirs
        for pod in desired:
            self.state.ip(f"pod/{pod}")
        addresses = self._service_addresses(topology, result.notes)
        self.state.save()
        # 3. start missing pods wave by wave (a wave waits for what it references); first the
        # machine's AppCDS archives (once per machine: make-cds.sh, as the image build does)
        if any(image_kind(w.main) == "spark-job"
               and any(p not in self.state.pods for p in w.pod_names())
               for w in topology.workloads):
            ensure_archives(CDS_CACHE, spark_home(), self.progress)
        for wave in topology.start_order():
            pending = []
            for w in wave:
                note = self._unsupported(w)
                if note:
                    result.notes.append(note)
                    continue
                for pod in w.pod_names():
                    if pod in self.state.pods:
                        result.kept.append(pod)
                        continue
                    self._launch_pod(pod, w, topology, addresses)
                    pending.append((pod, w))
            self._write_proxy(topology)
            if pending:
                self._wait_ready(pending)
                result.started += [p for p, _ in pending]
            self._write_proxy(topology)
        self._sync_proxy(topology)
        self.state.notes = sorted(set(self.state.notes) | set(result.notes))
        self.state.save()
        return result

    # ---------------------------------------------------------------- status
    def pods(self, topology: Topology | None = None) -> list[PodStatus]:
        out = []
        for pod, info in sorted(self.state.pods.items()):
            rec = ProcRecord.from_json(info["proc"]) if info.get("proc") else None
            alive = bool(rec and rec.alive())
            out.append(PodStatus(pod, info["workload"], info.get("component", ""),
                                 info["ip"], rec.pid if rec else None, alive,
                                 alive and self._probe_once(info)[0], info["log"]))
        return out

    def kill_pod(self, pod: str) -> int:
        """SIGKILL a pod's leader process only (a crash, for tests); returns its PID."""
        rec = ProcRecord.from_json(self.state.pods[pod]["proc"])
        proc = rec.process()
        if proc is None:
            raise RuntimeError(f"pod {pod} is not running")
        # the JVM, not a supervising shell: the deepest descendant that is java, else the leader
        victims = [p for p in [proc] + proc.children(recursive=True) if "java" in p.name()]
        victim = victims[0] if victims else proc
        victim.kill()
        return victim.pid

    # ---------------------------------------------------------------- internals
    def _unsupported(self, w: Workload) -> str | None:
        if image_kind(w.main) is None:
            return (f"{w.kind}/{w.name}: image {w.main.image!r} has no local entrypoint "
                    f"(only spark-job and api-service); not started")
        return None

    def _service_addresses(self, topology: Topology, notes: list[str]) -> dict[str, str]:
        addresses = {}
        referenced = {s.name for w in topology.workloads for s in topology.referenced_services(w)}
        for svc in topology.services:
            if svc.headless:
                endpoints = [p for w in topology.endpoints_of(svc) for p in w.pod_names()]
                if not endpoints:
                    continue
                if len(endpoints) > 1 and svc.name in referenced:
                    notes.append(f"Service/{svc.name}: headless with {len(endpoints)} endpoints;"
                                 f" its name resolves to the first ({endpoints[0]}) only")
                addresses[svc.name] = self.state.ip(f"pod/{endpoints[0]}")
            else:
                addresses[svc.name] = self.state.ip(f"svc/{svc.name}")
        return addresses

    def _pod_env(self, pod: str, w: Workload, topology: Topology, addresses: dict[str, str],
                 pod_dir: Path) -> dict[str, str]:
        c = w.main
        ip = self.state.ip(f"pod/{pod}")
        env = {k: os.environ[k] for k in _HOST_ENV if k in os.environ}
        kind = image_kind(c)
        # What the image itself would set (its Dockerfile ENV), mapped to this host.
        if kind == "spark-job":
            env.update(SPARK_HOME=spark_home(), PYSPARK_PYTHON=sys.executable,
                       SPARK_JOBS_DIR=str(SPARK_JOBS), HOME=str(pod_dir / "home"))
        elif kind == "api-service":
            env.update(PYTHONPATH=str(API_ROOT), HOME=str(pod_dir / "home"))
        mounts = sorted(c.mounts, key=lambda m: len(m.mount_path), reverse=True)
        for m in c.mounts:
            vol = pod_dir / "volumes" / m.name
            vol.mkdir(parents=True, exist_ok=True)
            for rel, content in m.files:
                f = vol / rel
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(content)
                if m.kind == "secret":
                    f.chmod(0o600)
        for var in c.env:
            value = var.resolve(pod, ip, w.namespace)
            value = resolve_hosts(value, addresses, topology.services)
            value = self._map_path(value, mounts, pod_dir)
            env[var.name] = value
        if kind == "spark-job":
            # A shared, persistent AppCDS cache instead of a per-pod emptyDir: measured 3x faster
            # JVM start once the archive exists (DESIGN section 4).
            env["SPARK_CDS_DIR"] = str(CDS_CACHE)
        Path(env.get("HOME", pod_dir / "home")).mkdir(parents=True, exist_ok=True)
        return env

    @staticmethod
    def _map_path(value: str, mounts: Sequence, pod_dir: Path) -> str:
        for m in mounts:
            if value == m.mount_path or value.startswith(m.mount_path.rstrip("/") + "/"):
                return str(pod_dir / "volumes" / m.name) + value[len(m.mount_path.rstrip("/")):]
        for image_path, host in (("/opt/spark-jobs", SPARK_JOBS),):
            if value == image_path or value.startswith(image_path + "/"):
                return str(host) + value[len(image_path):]
        return value

    def _argv(self, w: Workload, topology: Topology, addresses: dict[str, str]) -> list[str]:
        c = w.main
        args = [resolve_hosts(a, addresses, topology.services) for a in c.args]
        if c.command:
            self.state.notes.append(f"{w.kind}/{w.name}: container command {list(c.command)} "
                                    f"ignored; the image's entrypoint is run")
        if image_kind(c) == "spark-job":
            return ["bash", str(SPARK_ENTRYPOINT), *args]
        return [sys.executable, "-m", "spark_api", *args]

    def _launch_pod(self, pod: str, w: Workload, topology: Topology,
                    addresses: dict[str, str]) -> None:
        pod_dir = self.state.dir / "pods" / pod
        pod_dir.mkdir(parents=True, exist_ok=True)
        env = self._pod_env(pod, w, topology, addresses, pod_dir)
        argv = self._argv(w, topology, addresses)
        for extra in w.containers[1:]:
            self.state.notes.append(f"{w.kind}/{w.name}: sidecar {extra.name} "
                                    f"({extra.image}) is not run")
        log = self.state.dir / "pods" / f"{pod}.log"
        rec, popen = procs.launch(pod, argv, env, log, cwd=pod_dir)
        self._popens[rec.pid] = popen
        ip = self.state.ip(f"pod/{pod}")
        probe = w.main.readiness
        master_ui = None
        if image_kind(w.main) == "spark-job" and w.main.args[:1] == ("master",):
            master_ui = int(env.get("SPARK_MASTER_WEBUI_PORT", "8080"))
        self.state.pods[pod] = {
            "workload": w.name, "component": w.component, "template_hash": w.template_hash,
            "ip": ip, "log": str(log), "proc": rec.to_json(), "ready": False,
            "probe": probe.__dict__ if probe else None, "env_cwd": str(pod_dir),
            "master_ui_port": master_ui,
            "ports": [p.port for p in w.main.ports],
        }
        self.state.save()
        self.progress(f"started {pod} ({image_kind(w.main)}) on {ip}, pid {rec.pid}")

    def _probe_once(self, info: dict) -> tuple[bool, str]:
        """One readiness check as the kubelet would do it, against the pod's own IP."""
        ip, probe = info["ip"], info.get("probe")
        try:
            if probe is None:
                ports = info.get("ports") or []
                if not ports:
                    return True, "no probe, no port: ready once started"
                with socket.create_connection((ip, ports[0]), timeout=1):
                    return True, f"tcp {ip}:{ports[0]} open"
            if probe["kind"] == "httpGet":
                url = f"http://{ip}:{probe['port']}{probe['path']}"
                with urllib.request.urlopen(url, timeout=max(1.0, probe["timeout"])) as resp:
                    ok = 200 <= resp.status < 400
                    if ok and info.get("master_ui_port"):
                        return self._master_alive(ip, info["master_ui_port"])
                    return ok, f"GET {url} → {resp.status}"
            if probe["kind"] == "tcpSocket":
                with socket.create_connection((ip, probe["port"]), timeout=probe["timeout"]):
                    return True, f"tcp {ip}:{probe['port']} open"
            if probe["kind"] == "exec":
                rec = ProcRecord.from_json(info["proc"])
                env = dict(psutil_env(rec.pid))
                res = subprocess.run(probe["command"], env=env, cwd=info["env_cwd"],
                                     capture_output=True, timeout=max(1.0, probe["timeout"]))
                return res.returncode == 0, f"exec {probe['command']} → {res.returncode}"
        except urllib.error.HTTPError as exc:
            return False, f"HTTP {exc.code}"
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return False, f"unknown probe {probe}"

    @staticmethod
    def _master_alive(ip: str, port: int) -> tuple[bool, str]:
        """The Spark master answers /json/ before it is ALIVE; workers must wait for ALIVE."""
        with urllib.request.urlopen(f"http://{ip}:{port}/json/", timeout=2) as resp:
            status = json.loads(resp.read()).get("status")
        return status == "ALIVE", f"master /json/ status {status}"

    def _wait_ready(self, pending: list[tuple[str, Workload]]) -> None:
        t0 = time.monotonic()
        waiting = {pod for pod, _ in pending}
        seen: dict[str, str] = {}
        last_report = t0
        self.progress(f"waiting for {', '.join(sorted(waiting))} to be ready "
                      f"(readiness probe on each pod's IP, up to {self.ready_timeout:.0f}s)")
        while waiting:
            for pod in sorted(waiting):
                info = self.state.pods[pod]
                rec = ProcRecord.from_json(info["proc"])
                popen = self._popens.get(rec.pid)
                code = popen.poll() if popen else None
                if code is not None or not rec.alive():
                    raise ReadinessError(
                        f"pod {pod} exited (code {code}) before it was ready; last probe: "
                        f"{seen.get(pod, 'none yet')}\n--- last lines of {info['log']} ---\n"
                        f"{procs.tail(info['log'])}\n--- hint: the log above says why; "
                        f"`status {self.state.run_id}` shows every pod")
                ok, what = self._probe_once(info)
                seen[pod] = what
                if ok:
                    info["ready"] = True
                    waiting.discard(pod)
                    self.progress(f"ready: {pod} after {time.monotonic() - t0:.1f}s ({what})")
            self.state.save()
            if not waiting:
                break
            elapsed = time.monotonic() - t0
            if elapsed > self.ready_timeout:
                pod = sorted(waiting)[0]
                info = self.state.pods[pod]
                raise ReadinessError(
                    f"pod {pod} not ready after {elapsed:.0f}s; the probe last saw: {seen[pod]}"
                    f"\n--- last lines of {info['log']} ---\n{procs.tail(info['log'])}\n"
                    f"--- hint: is the machine overloaded (JVMs on 2 cores)? Another run "
                    f"still up? (`down` it) ")
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                self.progress(f"  still waiting {elapsed:.0f}s for {', '.join(sorted(waiting))}"
                              f" ({'; '.join(f'{p}: {seen[p]}' for p in sorted(waiting))})")
            time.sleep(0.25)

    # ---------------------------------------------------------------- ClusterIP proxies
    def _proxy_config(self, topology: Topology) -> list[dict]:
        listeners = []
        for svc in topology.services:
            if svc.headless:
                continue
            targets_by_port: dict[int, list[list]] = {sp.port: [] for sp in svc.ports}
            for w in topology.endpoints_of(svc):
                for pod in w.pod_names():
                    info = self.state.pods.get(pod)
                    if not info or not info.get("ready"):
                        continue
                    for sp in svc.ports:
                        targets_by_port[sp.port].append(
                            [info["ip"], w.main.port_number(sp.target_port)])
            for sp in svc.ports:
                listeners.append({"service": svc.name, "ip": self.state.ip(f"svc/{svc.name}"),
                                  "port": sp.port, "targets": targets_by_port[sp.port]})
        return listeners

    def _write_proxy(self, topology: Topology) -> None:
        listeners = self._proxy_config(topology)
        path = self.state.dir / "proxy.json"
        if not listeners and "proxy" not in self.state.extras:
            return
        content = json.dumps({"listeners": listeners}, indent=1).encode()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(content)
        tmp.replace(path)
        self._proxy_sha = hashlib.sha256(content).hexdigest()
        proxy = self.state.extras.get("proxy")
        rec = ProcRecord.from_json(proxy["proc"]) if proxy and proxy.get("proc") else None
        if rec is None or not rec.alive():
            env = {k: os.environ[k] for k in _HOST_ENV if k in os.environ}
            env["PYTHONPATH"] = str(REPO)
            rec, popen = procs.launch("proxy", [sys.executable, "-m", "simulator.backends.proxy",
                                                str(path)], env, self.state.dir / "proxy.log")
            self._popens[rec.pid] = popen
            self.state.extras["proxy"] = {"proc": rec.to_json()}
            self.progress(f"started Service proxy, pid {rec.pid}")
            self.state.save()

    def _sync_proxy(self, topology: Topology) -> None:
        """Wait until the proxy applied the latest endpoints and listens on every Service port."""
        listeners = self._proxy_config(topology)
        deadline = time.monotonic() + 15
        applied = self.state.dir / "proxy.json.applied"
        want = getattr(self, "_proxy_sha", None)
        while want and not (applied.exists() and applied.read_text() == want):
            if time.monotonic() > deadline:
                raise ReadinessError(f"the Service proxy did not apply its new endpoints in 15s"
                                     f"\n{procs.tail(self.state.dir / 'proxy.log')}")
            time.sleep(0.05)
        for lst in listeners:
            while True:
                try:
                    with socket.create_connection((lst["ip"], lst["port"]), timeout=1):
                        break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        raise ReadinessError(
                            f"Service {lst['service']}: proxy not listening on {lst['ip']}:"
                            f"{lst['port']} ({exc})\n{procs.tail(self.state.dir / 'proxy.log')}")
                    time.sleep(0.1)

    # ---------------------------------------------------------------- outside the release
    def launch_extra(self, name: str, argv: list[str], env: dict[str, str],
                     ready: Callable[[], tuple[bool, str]], timeout: float = 60.0) -> ProcRecord:
        """Start a process outside the release (mock OAuth, an external Spark master)."""
        log = self.state.dir / "pods" / f"{name}.log"
        if str(SPARK_ENTRYPOINT) in argv:
            ensure_archives(CDS_CACHE, spark_home(), self.progress)
        full_env = {k: os.environ[k] for k in _HOST_ENV if k in os.environ}
        full_env.update(env)
        rec, popen = procs.launch(name, argv, full_env, log, cwd=self.state.dir)
        self._popens[rec.pid] = popen
        self.state.extras[name] = {"proc": rec.to_json(), "log": str(log)}
        self.state.save()
        self.progress(f"started {name} (outside the release), pid {rec.pid}; waiting until ready")

        def probe() -> tuple[bool, str]:
            if popen.poll() is not None:
                raise ReadinessError(f"{name} exited (code {popen.returncode}) before it was "
                                     f"ready\n--- {log} ---\n{procs.tail(log)}")
            return ready()

        waited = wait_for(probe, timeout)
        if not waited.ok:
            raise ReadinessError(f"{name} not ready after {timeout:.0f}s; last probe: "
                                 f"{waited.last}\n--- {log} ---\n{procs.tail(log)}")
        self.progress(f"ready: {name} after {waited.seconds:.1f}s ({waited.last})")
        return rec

    def stop_extra(self, name: str) -> None:
        extra = self.state.extras.pop(name, None)
        if extra and extra.get("proc"):
            procs.terminate([ProcRecord.from_json(extra["proc"])])
        self.state.save()

    def extra_alive(self, name: str) -> bool:
        extra = self.state.extras.get(name)
        return bool(extra and extra.get("proc") and ProcRecord.from_json(extra["proc"]).alive())


def psutil_env(pid: int) -> dict[str, str]:
    import psutil
    try:
        return psutil.Process(pid).environ()
    except psutil.Error:
        return {}


def spark_env(ip: str, role: str, run_dir: Path, master_url: str = "",
              cores: int = 1, memory: str = "512m") -> dict[str, str]:
    """Env for the spark-job entrypoint outside a release (service-only's external cluster)."""
    home = run_dir / "pods" / f"external-{role}-{ip.rsplit('.', 1)[-1]}"
    env = {"POD_IP": ip, "SPARK_HOME": spark_home(), "PYSPARK_PYTHON": sys.executable,
           "HOME": str(home), "SPARK_CDS_DIR": str(CDS_CACHE), "SPARK_JOBS_DIR": str(SPARK_JOBS),
           "SPARK_DAEMON_MEMORY": "512m"}
    if role == "worker":
        env.update(SPARK_MASTER_URL=master_url, SPARK_WORKER_CORES=str(cores),
                   SPARK_WORKER_MEMORY=memory, SPARK_WORKER_DIR=str(home / "work"))
    return env


def service_of(topology: Topology, component: str) -> Service | None:
    """The first non-headless-preferred Service selecting a workload of ``component``."""
    svcs = [s for s in topology.services
            if any(w.component == component for w in topology.endpoints_of(s))]
    svcs.sort(key=lambda s: s.headless)
    return svcs[0] if svcs else None
