"""The default backend: every replica of every workload is one local process on its own loopback IP.

``apply`` is the reconcile: it diffs the desired topology against what runs and starts/stops
only the pods whose template changed (or whose process died), wave by wave (a wave waits for
the Services it references), so a pod whose template is unchanged keeps its PID. Every pod runs
its image's own entrypoint (``pods.py``); ClusterIP Services are a proxy process
(``services.py``); probes run as the kubelet runs them (``probes.py``). All state lives in the
run's ``RunState`` (run.json), so ``status`` and ``down`` work from any other process.
"""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence

from simulator.backends.base import (EXTERNAL_MASTER, OAUTH, Endpoints, ExternalSparkSpec,
                                     OAuthSpec, PodStatus, Progress, ReadinessError,
                                     ReconcileResult, external_worker, first_service_of,
                                     master_ports, metrics_port)
from simulator.backends.probes import (PodWait, ProbeTracker, at, master_alive, pod_tracker,
                                       ready_now, wait_ready)
from simulator.backends.process.pods import image_command, image_kind, pod_launch
from simulator.backends.process.services import (PROXY, ServiceProxy, named_endpoints,
                                                 service_addresses)
from simulator.backends.stopping import DOWN_GRACE, PodStop, stop_one, stop_pods
from simulator.local import (ComponentStartError, LocalComponent, MockOAuthProcess, SparkMaster,
                             SparkWorker, cds_cache, ensure_archives, procs, spark_home)
from simulator.local.base import stderr_progress
from simulator.local.procs import ProcRecord
from simulator.run import CONTROLLER, ExtraRecord, PodRecord, RunError, RunState, subnet_for
from simulator.topology import Workload


class ProcessBackend:
    """Realizes a ``Topology`` as local processes; all state lives in ``RunState`` (run.json)."""

    honors: tuple[str, ...] = ()
    name = "process"
    supervised = True  # the run's controller restarts its pods (simulator.controller)

    def __init__(self, state: RunState, progress: Progress = stderr_progress,
                 ready_timeout: float = 120.0) -> None:
        self.state = state
        self.progress = progress
        self.ready_timeout = ready_timeout
        self._popens: dict[int, subprocess.Popen] = {}
        self.proxy = ServiceProxy(state, progress)

    @staticmethod
    def allocate_subnet(run_id: str, taken: set[str]) -> str:
        """The run's loopback /24 (``127.A.B``), not used by another live run."""
        return subnet_for(run_id, taken)

    # ---------------------------------------------------------------- addresses outside
    def issuer_url(self, oauth: OAuthSpec) -> str:
        return f"http://{self.state.ip('ext/oauth')}:{oauth.port}"

    def external_master_url(self) -> str:
        return f"spark://{self.state.ip('ext/spark-master')}:7077"

    # ---------------------------------------------------------------- reconcile
    def apply(self, topology) -> ReconcileResult:
        """Make the running pods match ``topology``; only changed pods are touched."""
        result = ReconcileResult()
        desired: dict[str, Workload] = {p: w for w in topology.workloads for p in w.pod_names()}
        # 1. stop pods that are gone, changed, or died
        to_stop = [pod for pod, rec in self.state.pods.items()
                   if desired.get(pod) is None
                   or desired[pod].template_hash != rec.template_hash
                   or not (rec.proc and ProcRecord.from_json(rec.proc).alive())]
        if to_stop:
            self.progress(f"stopping {', '.join(to_stop)}")
            stop_pods([self._pod_stop(self.state.pods[p]) for p in to_stop
                       if self.state.pods[p].proc], self.progress)
            named = named_endpoints(topology)
            for pod in to_stop:
                self.state.pods.pop(pod)
                if pod not in named:  # others reach it by a name that resolved to its address
                    self.state.retire_ip(f"pod/{pod}")
            result.stopped = to_stop
        # 2. addresses: pods keep their IP across restarts, Services get theirs
        for pod in desired:
            self.state.ip(f"pod/{pod}")
        addresses = service_addresses(self.state, topology, result.notes)
        self.state.save()
        # 3. the machine's AppCDS archives (once per machine, as the image build makes them)
        if any(image_kind(w.main) == "spark-job" and any(p not in self.state.pods
                                                          for p in w.pod_names())
               for w in topology.workloads):
            ensure_archives(cds_cache(), str(spark_home()), self.progress)
        # 4. start missing pods wave by wave (a wave waits for what it references)
        for wave in topology.start_order():
            pending = []
            for w in wave:
                if image_kind(w.main) is None:
                    result.notes.append(f"{w.kind}/{w.name}: image {w.main.image!r} has no "
                                        f"local entrypoint (only spark-job and api-service); "
                                        f"not started")
                    continue
                for pod in w.pod_names():
                    if pod in self.state.pods:
                        result.kept.append(pod)
                        continue
                    result.notes += self._launch_pod(pod, w, topology, addresses)
                    pending.append(pod)
            self.proxy.write(topology)
            if pending:
                self._wait_ready(pending)
                result.started += pending
            self.proxy.write(topology)
        self.proxy.sync(topology)
        self.state.notes = sorted(set(self.state.notes) | set(result.notes))
        self.state.save()
        return result

    def _launch_pod(self, pod: str, w: Workload, topology, addresses) -> list[str]:
        pod_dir = self.state.dir / "pods" / pod
        pod_dir.mkdir(parents=True, exist_ok=True)
        ip = self.state.ip(f"pod/{pod}")
        kind = image_kind(w.main)
        launch = pod_launch(pod, w, topology, addresses, ip, pod_dir)
        log = self.state.dir / "pods" / f"{pod}.log"
        rec, popen = procs.launch(pod, launch.argv, launch.env, log, cwd=launch.cwd)
        self._popens[rec.pid] = popen
        master_ui = None
        if kind == "spark-job" and w.main.args[:1] == ("master",):
            master_ui = int(launch.env.get("SPARK_MASTER_WEBUI_PORT", "8080"))
        c = w.main
        self.state.pods[pod] = PodRecord(
            name=pod, workload=w.name, component=w.component, template_hash=w.template_hash,
            ip=ip, log=str(log), proc=rec.to_json(), cwd=str(pod_dir),
            ports=[p.port for p in c.ports], master_ui_port=master_ui,
            startup=c.startup, readiness=c.readiness, liveness=c.liveness,
            pre_stop=list(c.pre_stop), grace=w.termination_grace)
        self.state.save()
        self.progress(f"started {pod} ({kind}) on {ip}, pid {rec.pid}")
        return launch.notes

    # ---------------------------------------------------------------- stopping
    def _pod_stop(self, rec: PodRecord) -> PodStop:
        """The kubelet's way to stop the pod: its preStop (run in the pod's environment: the
        image's scripts mapped here), then SIGTERM to its process group, SIGKILL after the rest
        of its grace period."""
        proc = ProcRecord.from_json(rec.proc) if rec.proc else None
        alive = bool(proc and proc.alive())
        return PodStop(rec.name, rec.grace,
                       image_command(rec.pre_stop) if alive and rec.pre_stop else (),
                       lambda seconds: procs.terminate([proc] if proc else [], grace=seconds),
                       hook_env=procs.environ_of(proc) if alive and proc else None,
                       hook_cwd=rec.cwd or None, shown=rec.pre_stop)

    # ---------------------------------------------------------------- readiness
    def _exec_in(self, rec: PodRecord) -> Callable[[Sequence[str], float], int]:
        def run(command: Sequence[str], timeout: float) -> int:
            env = procs.environ_of(ProcRecord.from_json(rec.proc)) if rec.proc else {}
            return subprocess.run(image_command(command), env=env, cwd=rec.cwd or None,
                                  capture_output=True, timeout=timeout).returncode
        return run

    def _tracker(self, rec: PodRecord, liveness: bool = False) -> ProbeTracker:
        return pod_tracker(rec, at(rec.ip), self._exec_in(rec), liveness)

    def _ready_now(self, rec: PodRecord) -> tuple[bool, str]:
        """One look as `status` takes it; a master must also say ALIVE."""
        ok, what = ready_now(self._tracker(rec))
        if ok and rec.master_ui_port:
            return master_alive(at(rec.ip), rec.master_ui_port)
        return ok, what

    def _wait_ready(self, pending: list[str]) -> None:
        waits = {}
        for pod in pending:
            rec = self.state.pods[pod]
            proc = ProcRecord.from_json(rec.proc)

            def exited(proc: ProcRecord = proc) -> str | None:
                popen = self._popens.get(proc.pid)
                code = popen.poll() if popen else None
                if code is None and proc.alive():
                    return None
                return f"exited (code {code})"

            also = None
            if rec.master_ui_port:
                def also(rec: PodRecord = rec) -> tuple[bool, str]:
                    return master_alive(at(rec.ip), rec.master_ui_port or 8080)
            waits[pod] = PodWait(self._tracker(rec), exited,
                                 lambda log=rec.log: procs.tail(log), also)

        def on_ready(pod: str) -> None:
            self.state.pods[pod].ready = True
            self.state.save()

        wait_ready(waits, self.ready_timeout, self.progress, on_ready,
                   f"`status {self.state.run_id}` shows every pod; logs in "
                   f"{self.state.dir / 'pods'}")

    # ---------------------------------------------------------------- status and faults
    def pods(self) -> list[PodStatus]:
        out = []
        for pod, rec in sorted(self.state.pods.items()):
            proc = ProcRecord.from_json(rec.proc) if rec.proc else None
            alive = bool(proc and proc.alive())
            out.append(PodStatus(pod, rec.workload, rec.component, rec.ip, alive,
                                 alive and self._ready_now(rec)[0], rec.log,
                                 f"pid {proc.pid}" if proc else "", rec.restarts))
        return out

    def kill_pod(self, pod: str) -> str:
        """SIGKILL a pod's JVM (or its leader when there is none): a crash, for tests. Also a
        thing outside the release by its name (``oauth``), as ``pod_log`` reads either."""
        rec = self.state.pods.get(pod) or self.state.extras.get(pod)
        if rec is None or not rec.proc:
            raise RunError(f"no pod {pod!r} in run {self.state.run_id}")
        proc = ProcRecord.from_json(rec.proc).process()
        if proc is None:
            raise RunError(f"pod {pod} is not running")
        victims = [p for p in [proc] + proc.children(recursive=True) if "java" in p.name()]
        victim = victims[0] if victims else proc
        victim.kill()
        popen = self._popens.get(victim.pid)
        if popen is not None:  # our own child: reap it, or it stays a zombie in its process
            popen.wait(timeout=10)  # group and the controller's restart waits out the grace
        return f"pid {victim.pid}"

    def pod_log(self, pod: str, lines: int = 40) -> str:
        rec = self.state.pods.get(pod) or self.state.extras.get(pod)
        if rec is None:
            raise RunError(f"no pod {pod!r} in run {self.state.run_id}")
        return procs.tail(rec.log, lines)

    # ---------------------------------------------------------------- for the run's controller
    def probe_tracker(self, rec: PodRecord) -> ProbeTracker:
        """All of the pod's probes, liveness included, as the kubelet runs them over time."""
        return self._tracker(rec, liveness=True)

    def reap(self) -> None:
        """Collect the exit status of every process this backend started that has ended (kept
        by its ``Popen``): run by the controller even while another process holds the run's
        lock, so a pod that process stops does not stay our zombie, which it would wait on
        for the whole grace period."""
        for popen in list(self._popens.values()):
            popen.poll()

    def pod_exit(self, pod: str) -> tuple[int | None, str] | None:
        """None while the pod's process runs; else (exit code, or None when no longer known,
        and what is known). The code is known when this process started the pod (the
        controller's restarts) or while the pod waits unreaped as its parent's zombie."""
        rec = self.state.pods[pod]
        proc = ProcRecord.from_json(rec.proc) if rec.proc else None
        if proc is not None and proc.alive():
            return None
        popen = self._popens.get(proc.pid) if proc else None
        if popen is not None:
            # A killed multithreaded process (the API, a JVM) shows its main thread as a zombie
            # while its other threads still exit; it can be waited for only once they are gone
            # (poll() is None until then): until then it has not exited, as for the kubelet.
            code = popen.poll()
            return None if code is None else procs.exit_reason(code)
        return procs.exit_reason(procs.zombie_status(proc) if proc else None,
                                 waitpid_status=True)

    def restart_pod(self, pod: str, topology) -> str:
        """Start a pod again from its record and the applied manifests, as the kubelet restarts
        a container: same IP, same pod directory; what is left of its process group is stopped
        first (the pod's grace period). Does not wait: the caller's probes say when it is
        ready. Keeps ``restarts`` and ``last_exit``."""
        old = self.state.pods[pod]
        w = next((w for w in topology.workloads if pod in w.pod_names()), None)
        if w is None:
            raise RunError(f"pod {pod} is not in the applied manifests of run "
                           f"{self.state.run_id}")
        if old.proc:
            stop_one(self._pod_stop(old), self.progress)
        self._launch_pod(pod, w, topology, service_addresses(self.state, topology, []))
        new = self.state.pods[pod]
        new.restarts, new.last_exit, new.ready = old.restarts, old.last_exit, False
        self.proxy.write(topology)
        self.state.save()
        return f"pid {ProcRecord.from_json(new.proc).pid}"

    def sync_endpoints(self, topology) -> None:
        """The Service proxy follows the pods' ``ready`` (only ready pods get traffic)."""
        self.proxy.write(topology)

    # ---------------------------------------------------------------- outside the release
    def _start_extra(self, name: str, component: LocalComponent, ip: str, port: int = 0) -> None:
        """Start a local component outside the release and record it for status and down."""
        self.progress(f"starting {name} (outside the release) on {ip}")
        try:
            component.start()
        except ComponentStartError as exc:
            raise ReadinessError(str(exc)) from exc
        assert component.record is not None
        self.state.extras[name] = ExtraRecord(name, ip=ip, port=port,
                                              log=str(component.log_path),
                                              proc=component.record.to_json())
        self.state.save()
        self.progress(f"ready: {name} ({component.waited.last if component.waited else ''})")

    def start_oauth(self, spec: OAuthSpec) -> None:
        ip = self.state.ip("ext/oauth")
        self._start_extra(OAUTH, MockOAuthProcess(ip, spec.port, spec.clients, spec.audience,
                                                  self.state.dir / "pods" / f"{OAUTH}.log"),
                          ip, spec.port)

    def start_external_spark(self, spec: ExternalSparkSpec) -> None:
        master_ip = self.state.ip("ext/spark-master")
        pods = self.state.dir / "pods"
        keys_dir = self.state.dir / "external-spark-keys"  # the Secret's files, as mounted
        keys_dir.mkdir(mode=0o700, exist_ok=True)
        for key, value in spec.keys.items():
            fd = os.open(keys_dir / key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
        master = SparkMaster(master_ip, pods / EXTERNAL_MASTER, progress=self.progress,
                             log_path=pods / f"{EXTERNAL_MASTER}.log",
                             extra_env=spec.key_env(str(keys_dir), "master"))
        self._start_extra(EXTERNAL_MASTER, master, master_ip, master.port)
        for i in range(spec.workers):
            ip = self.state.ip(f"ext/spark-worker-{i}")
            worker = SparkWorker(ip, pods / external_worker(i), master.url,
                                 memory=spec.worker_memory, progress=self.progress,
                                 log_path=pods / f"{external_worker(i)}.log",
                                 extra_env=spec.key_env(str(keys_dir), "worker"))
            self._start_extra(external_worker(i), worker, ip, worker.ui_port)

    def extras(self) -> list[str]:
        return [n for n in self.state.extras if n not in (PROXY, CONTROLLER)]

    def extra_alive(self, name: str) -> bool:
        extra = self.state.extras.get(name)
        return bool(extra and extra.proc and ProcRecord.from_json(extra.proc).alive())

    def stop_extra(self, name: str) -> None:
        extra = self.state.extras.pop(name, None)
        if extra and extra.proc:
            procs.terminate([ProcRecord.from_json(extra.proc)])
        self.state.save()

    # ---------------------------------------------------------------- client endpoints
    def endpoints(self, topology) -> Endpoints:
        master_url = ui_url = api_url = token_url = None
        ports = master_ports(topology)
        if ports:
            ip = self.state.ips[f"pod/{topology.by_component('master')[0].pod_names()[0]}"]
            master_url, ui_url = f"spark://{ip}:{ports[0]}", f"http://{ip}:{ports[1]}"
        elif EXTERNAL_MASTER in self.state.extras:
            ip = self.state.ips["ext/spark-master"]
            master_url, ui_url = f"spark://{ip}:7077", f"http://{ip}:8080"
        svc = first_service_of(topology, "api")
        if svc is not None:
            ip = self.state.ips.get(f"svc/{svc.name}")
            if svc.headless:
                ip = self.state.ips.get(f"pod/{topology.endpoints_of(svc)[0].pod_names()[0]}")
            api_url = f"http://{ip}:{svc.ports[0].port}"
            oauth = self.state.extras.get(OAUTH)
            if oauth:
                token_url = f"http://{oauth.ip}:{oauth.port}/token"
        metrics = metrics_port(topology)
        metrics_url = None
        if metrics and metrics[0] in self.state.pods:
            metrics_url = f"http://{self.state.pods[metrics[0]].ip}:{metrics[1]}/metrics"
        return Endpoints(api_url, token_url, master_url, ui_url, metrics_url)

    def cluster_checks(self, topology) -> list[tuple[str, bool, str]]:
        return []  # NetworkPolicies are not enforced here (reported as not honored)

    # ---------------------------------------------------------------- teardown
    def stop(self) -> list[str]:
        """Kill every process of the run (pods, proxy, extras) by process group; returns
        leftovers. Works from any process: it reads only the run state, and checks start times
        before signalling."""
        records = [ProcRecord.from_json(r.proc) for r in
                   list(self.state.pods.values()) + list(self.state.extras.values()) if r.proc]
        self.progress(f"down {self.state.run_id}: stopping {len(records)} process group(s): "
                      f"SIGTERM, SIGKILL after {DOWN_GRACE:.0f}s (no preStop hooks, like "
                      f"`kubectl delete --grace-period={DOWN_GRACE:.0f}`)")
        t0 = time.monotonic()
        leftovers = procs.terminate(records, grace=DOWN_GRACE)
        for rec in list(self.state.pods.values()) + list(self.state.extras.values()):
            rec.proc = None
        listening = procs.listening_on(self.state.subnet + ".")
        self.state.stopped = True
        self.state.save()
        self.progress(f"down {self.state.run_id}: done in {time.monotonic() - t0:.1f}s"
                      + (f"; LEFT: {leftovers + listening}" if leftovers or listening else
                         "; no process and no listener left"))
        return leftovers + listening
