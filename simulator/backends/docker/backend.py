"""The docker backend: the real images, one container per pod replica, one network per run.

Images are built from ``images/`` only when their build context changed (``simulator.images``,
content-hash tags); each pod of the rendered chart becomes one ``docker run`` as OpenShift's
restricted-v2 would run it (``containers.py``); the mock OAuth server runs from its own image,
and the service-only scenario's external Spark from the spark-job image, both outside the
release on the same network. Probes run as the kubelet runs them, through the ports published
on 127.0.0.1. Everything carries the run's label, so ``down`` removes it all by label, also
after the simulator was SIGKILLed in the middle of ``up``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from simulator import images
from simulator.backends.base import (EXTERNAL_MASTER, OAUTH, Endpoints, ExternalSparkSpec,
                                     OAuthSpec, PodStatus, Progress, ReconcileResult,
                                     external_worker, first_service_of, master_ports,
                                     metrics_port)
from simulator.backends.docker import engine
from simulator.backends.docker.containers import (ContainerSpec, pod_spec, port_notes,
                                                  run_uid, write_files)
from simulator.backends.docker.engine import RUN_LABEL, DockerError, docker
from simulator.backends.probes import (PodWait, ProbeTracker, Target, master_alive, pod_tracker,
                                       ready_now, wait_ready)
from simulator.backends.stopping import DOWN_GRACE, PodStop, stop_one, stop_pods
from simulator.local.base import stderr_progress
from simulator.run import CONTROLLER, ExtraRecord, PodRecord, RunError, RunState
from simulator.topology import (Container, ContainerPort, EnvVar, Probe, Security, Topology,
                                VolumeMount, Workload)

# The images a pod may name, by the last part of its repository.
IMAGE_NAMES = ("spark-job", "api-service", "mock-oauth")
OAUTH_ALIAS = "mock-oauth"
EXTERNAL_MASTER_ALIAS = "external-master"  # the name the specification's scenario 3 uses
# Outside the release, locked down like the pods.
_HARDENED = Security(read_only_root=True, allow_privilege_escalation=False,
                     drop_capabilities=("ALL",), seccomp="RuntimeDefault")



def image_name(container: Container) -> str | None:
    repo = container.image_repo
    return next((n for n in IMAGE_NAMES if repo.endswith(n)), None)


class DockerBackend:
    """Realizes a ``Topology`` as Docker containers; state in ``RunState`` (run.json)."""

    honors: tuple[str, ...] = ()
    name = "docker"
    supervised = True  # the run's controller restarts its pods (simulator.controller)

    def __init__(self, state: RunState, progress: Progress = stderr_progress,
                 ready_timeout: float = 180.0) -> None:
        images.ensure_docker()
        self.state = state
        self.progress = progress
        self.ready_timeout = ready_timeout

    # ---------------------------------------------------------------- network and addresses
    @staticmethod
    def allocate_subnet(run_id: str, taken: set[str]) -> str:
        """Create the run's network on a free /24 and return its prefix (``A.B.C``)."""
        images.ensure_docker()
        last = ""
        for salt in range(32):
            digest = hashlib.sha256(f"{run_id}/{salt}".encode()).digest()
            prefix = f"172.{24 + digest[0] % 8}.{digest[1]}"
            if prefix in taken:
                continue
            result = docker("network", "create", "--label", f"{RUN_LABEL}={run_id}",
                            "--subnet", f"{prefix}.0/24", "--gateway", f"{prefix}.1",
                            _network(run_id), check=False)
            if result.returncode == 0:
                return prefix
            last = result.stderr.strip()
            if "overlap" not in last and "already exists" not in last:
                break
        raise RunError(f"could not create a Docker network for run {run_id}: {last}")

    def issuer_url(self, oauth: OAuthSpec) -> str:
        return f"http://{OAUTH_ALIAS}:{oauth.port}"

    def external_master_url(self) -> str:
        return f"spark://{EXTERNAL_MASTER_ALIAS}:7077"

    @property
    def network(self) -> str:
        return _network(self.state.run_id)

    # ---------------------------------------------------------------- images
    def _image(self, name: str) -> str:
        """The locally built image for ``images/<name>``, built now if its context changed."""
        built = self.state.backend_data.setdefault("images", {})
        if name not in built:
            self.progress(f"image {name}: checking its build context")
            built[name] = images.ensure_image(name)
            self.state.save()
        return built[name]

    # ---------------------------------------------------------------- reconcile
    def apply(self, topology: Topology) -> ReconcileResult:
        result = ReconcileResult(notes=port_notes(topology))
        desired = {p: w for w in topology.workloads for p in w.pod_names()}
        to_stop = [pod for pod, rec in self.state.pods.items()
                   if pod not in desired or desired[pod].template_hash != rec.template_hash
                   or not engine.state(rec.container or "").get("Running")]
        if to_stop:
            self.progress(f"stopping {', '.join(to_stop)}")
            self._remove([self.state.pods[p] for p in to_stop])
            for pod in to_stop:
                self.state.pods.pop(pod)
                self.state.retire_ip(f"pod/{pod}")
            result.stopped = to_stop
        for pod in desired:
            self.state.ip(f"pod/{pod}")
        self.state.save()
        uid = run_uid(self.state.run_id)
        for wave in topology.start_order():
            pending = []
            for w in wave:
                name = image_name(w.main)
                if name is None:
                    result.notes.append(f"{w.kind}/{w.name}: image {w.main.image!r} is not "
                                        f"built from images/; not started")
                    continue
                image = self._image(name)
                for pod in w.pod_names():
                    if pod in self.state.pods:
                        result.kept.append(pod)
                        continue
                    result.notes += self._run_pod(pod, w, topology, image)
                    pending.append(pod)
            if pending:
                self.progress(f"containers run as UID {uid}, GID 0 (restricted-v2 style)")
                self._wait_ready(pending)
                result.started += pending
        self.state.notes = sorted(set(self.state.notes) | set(result.notes))
        self.state.save()
        return result

    def _run_pod(self, pod: str, w: Workload, topology: Topology, image: str) -> list[str]:
        ip = self.state.ip(f"pod/{pod}")
        pod_dir = self.state.dir / "pods" / pod
        spec = pod_spec(self.state.run_id, self.network, pod, ip, w, topology, image, pod_dir)
        container = self._run(spec, pod_dir)
        master_ui = None
        if image_name(w.main) == "spark-job" and w.main.args[:1] == ("master",):
            master_ui = int(spec.env.get("SPARK_MASTER_WEBUI_PORT", "8080"))
        c = w.main
        self.state.pods[pod] = PodRecord(
            name=pod, workload=w.name, component=w.component, template_hash=w.template_hash,
            ip=ip, log=f"docker logs {spec.name}", container=container, cwd=str(pod_dir),
            ports=[p.port for p in c.ports], master_ui_port=master_ui,
            startup=c.startup, readiness=c.readiness, liveness=c.liveness,
            pre_stop=list(c.pre_stop), grace=w.termination_grace)
        self.state.save()
        self.progress(f"started {pod} as container {spec.name} ({image}) on {ip}")
        return spec.notes

    def _run(self, spec: ContainerSpec, pod_dir: Path) -> str:
        try:
            write_files(spec, pod_dir)
        except ValueError as exc:
            raise RunError(f"{spec.name}: {exc}") from exc
        docker("rm", "-f", spec.name, check=False)  # a leftover of a crashed reconcile
        return docker("run", *spec.args).stdout.strip()

    def _target(self, container: str) -> Target:
        published: dict[int, int] = {}

        def target(port: int) -> tuple[str, int]:
            if port not in published:
                published.update(engine.published_ports(container))
            return "127.0.0.1", published[port]
        return target

    def _tracker(self, rec: PodRecord, liveness: bool = False) -> ProbeTracker:
        container = rec.container or ""
        return pod_tracker(rec, self._target(container),
                           lambda cmd, timeout: engine.exec_in(container, cmd, timeout), liveness)

    def _exited(self, container: str) -> str | None:
        st = engine.state(container)
        if st.get("Running"):
            return None
        return (f"container {st.get('Status')} (exit {st.get('ExitCode')}"
                f"{', OOMKilled' if st.get('OOMKilled') else ''})")

    def _wait_ready(self, pending: list[str]) -> None:
        waits = {}
        for pod in pending:
            rec = self.state.pods[pod]
            container = rec.container or ""
            tracker = self._tracker(rec)
            also = None
            if rec.master_ui_port:
                def also(t: Target = tracker.target, port: int = rec.master_ui_port):
                    return master_alive(t, port)
            waits[pod] = PodWait(tracker, lambda c=container: self._exited(c),
                                 lambda c=container: engine.logs(c), also)

        def on_ready(pod: str) -> None:
            self.state.pods[pod].ready = True
            self.state.save()

        wait_ready(waits, self.ready_timeout, self.progress, on_ready,
                   f"`docker ps -a --filter label={RUN_LABEL}={self.state.run_id}`")

    def _pod_stop(self, rec: PodRecord) -> PodStop:
        """The kubelet's way to stop the pod: ``docker exec`` of its preStop while the container
        runs, then ``docker stop -t <rest of the grace period>`` (SIGTERM, then SIGKILL)."""
        container = rec.container or ""
        running = bool(rec.pre_stop) and bool(engine.state(container).get("Running"))

        def terminate(seconds: float) -> None:
            secs = max(1, round(seconds))
            docker("stop", "-t", str(secs), container, check=False, timeout=secs + 60)
        return PodStop(rec.name, rec.grace,
                       ["docker", "exec", container, *rec.pre_stop] if running else (),
                       terminate, shown=rec.pre_stop)

    def _remove(self, records: list) -> None:
        """Stop pods as the kubelet does (``stopping.py``, in parallel), then remove them."""
        pods = [r for r in records if r.container and isinstance(r, PodRecord)]
        if pods:
            stop_pods([self._pod_stop(r) for r in pods], self.progress)
        others = [r.container for r in records if r.container and not isinstance(r, PodRecord)]
        if others:
            docker("stop", "-t", "10", *others, check=False, timeout=70)
        names = [r.container for r in records if r.container]
        if names:
            docker("rm", "-f", "-v", *names, check=False)

    # ---------------------------------------------------------------- status and faults
    def pods(self) -> list[PodStatus]:
        out = []
        for pod, rec in sorted(self.state.pods.items()):
            container = rec.container or ""
            alive = bool(engine.state(container).get("Running"))
            ready = False
            if alive:
                ready = ready_now(self._tracker(rec))[0]
            out.append(PodStatus(pod, rec.workload, rec.component, rec.ip, alive, ready,
                                 rec.log, f"container {container[:12]}", rec.restarts))
        return out

    def kill_pod(self, pod: str) -> str:
        """SIGKILL a pod's container (or one outside the release by name, e.g. ``oauth``)."""
        rec = self.state.pods.get(pod) or self.state.extras.get(pod)
        if rec is None or not rec.container:
            raise RunError(f"no pod {pod!r} in run {self.state.run_id}")
        docker("kill", "-s", "KILL", rec.container)
        return f"container {rec.container[:12]}"

    def pod_log(self, pod: str, lines: int = 40) -> str:
        rec = self.state.pods.get(pod) or self.state.extras.get(pod)
        if rec is None or not rec.container:
            raise RunError(f"no pod {pod!r} in run {self.state.run_id}")
        return engine.logs(rec.container, lines)

    # ---------------------------------------------------------------- for the run's controller
    def probe_tracker(self, rec: PodRecord) -> ProbeTracker:
        """All of the pod's probes, liveness included, as the kubelet runs them over time."""
        return self._tracker(rec, liveness=True)

    def pod_exit(self, pod: str) -> tuple[int | None, str] | None:
        """None while the pod's container runs; else (exit code, what Docker says)."""
        st = engine.state(self.state.pods[pod].container or "")
        if st.get("Running"):
            return None
        code = st.get("ExitCode")
        return code, (f"exited with code {code}" if st else "container is gone") + \
            (" (OOMKilled)" if st.get("OOMKilled") else "")

    def restart_pod(self, pod: str, topology: Topology) -> str:
        """Restart a pod's container as the kubelet does (same container: same address, same
        files; stopped with the pod's grace period first when it still runs), or run it again
        from the manifests when the container is gone. Does not wait for readiness."""
        rec = self.state.pods[pod]
        w = next((w for w in topology.workloads if pod in w.pod_names()), None)
        if w is None:
            raise RunError(f"pod {pod} is not in the applied manifests of run "
                           f"{self.state.run_id}")
        if rec.container and engine.state(rec.container).get("Running"):
            stop_one(self._pod_stop(rec), self.progress)
        if rec.container and docker("restart", "-t", "0", rec.container, check=False,
                                    timeout=60).returncode == 0:
            rec.ready = False
            self.state.save()
            return f"container {rec.container[:12]} restarted"
        name = image_name(w.main)
        if name is None:
            raise RunError(f"pod {pod}: image {w.main.image!r} is not built from images/")
        self._run_pod(pod, w, topology, self._image(name))
        new = self.state.pods[pod]
        new.restarts, new.last_exit = rec.restarts, rec.last_exit
        self.state.save()
        return f"container {(new.container or '')[:12]} created again"

    def sync_endpoints(self, topology: Topology) -> None:
        """Nothing to move: Services are Docker DNS aliases, which cannot drop a not-ready pod;
        only the client endpoint (``api_url``) follows readiness."""

    # ---------------------------------------------------------------- outside the release
    def _run_extra(self, name: str, image: str, alias: str, env: dict[str, str],
                   args: tuple[str, ...], ports: tuple[int, ...], ready_port: int,
                   ready_path: str, mounts: tuple[VolumeMount, ...] = (),
                   alive: bool = False) -> None:
        """A container outside the release, hardened like the pods, waited for until ready."""
        ip = self.state.ip(f"ext/{name}")
        container = Container(name=name, image=image, command=(), args=args,
                              env=tuple(EnvVar(k, v) for k, v in env.items()),
                              ports=tuple(ContainerPort(None, p) for p in ports),
                              readiness=None, mounts=mounts, security=_HARDENED)
        w = Workload(kind="External", name=name, namespace=self.state.namespace, labels={},
                     replicas=1, pod_labels={}, containers=(container,), template_hash="")
        topo = Topology(self.state.namespace)
        pod_dir = self.state.dir / "pods" / name
        spec = pod_spec(self.state.run_id, self.network, name, ip, w, topo, image, pod_dir,
                        extra_env={"POD_IP": ip}, labels={"spark-stack.outside": "true"},
                        extra_aliases=(alias,))
        cid = self._run(spec, pod_dir)
        self.state.extras[name] = ExtraRecord(name, ip=ip, port=ports[0],
                                              log=f"docker logs {spec.name}", container=cid)
        self.state.save()
        self.progress(f"started {name} (outside the release) as {spec.name} on {ip} "
                      f"(alias {alias}); waiting until ready")
        probe = Probe("httpGet", port=ready_port, path=ready_path, timeout=2)
        tracker = ProbeTracker(self._target(cid), None, probe, None)
        also = (lambda: master_alive(tracker.target, ready_port)) if alive else None
        wait_ready({name: PodWait(tracker, lambda: self._exited(cid),
                                  lambda: engine.logs(cid), also)},
                   120, self.progress, lambda _n: None, f"`docker logs {spec.name}`")

    def start_oauth(self, spec: OAuthSpec) -> None:
        clients = json.dumps({"clients": {k: dict(v) for k, v in spec.clients.items()}})
        mount = VolumeMount("clients", "/etc/mock-oauth", "secret",
                            files=(("clients.json", clients),), read_only=True)
        self._run_extra(OAUTH, self._image("mock-oauth"), OAUTH_ALIAS, {},
                        ("--port", str(spec.port), "--clients", "/etc/mock-oauth/clients.json",
                         "--audience", spec.audience, "--issuer", self.issuer_url(spec)),
                        (spec.port,), spec.port, "/.well-known/openid-configuration", (mount,))

    def start_external_spark(self, spec: ExternalSparkSpec) -> None:
        image = self._image("spark-job")
        tmp = VolumeMount("tmp", "/tmp", "emptyDir", size_limit="1Gi")
        keys_dir = "/etc/spark-security"  # the Secret's files, as the chart mounts them
        keys = VolumeMount("spark-keys", keys_dir, "secret", files=tuple(spec.keys.items()),
                           read_only=True)
        mounts = (tmp, keys) if spec.keys else (tmp,)
        common = {"SPARK_DAEMON_MEMORY": "512m"}
        self._run_extra(EXTERNAL_MASTER, image, EXTERNAL_MASTER_ALIAS,
                        {**common, **spec.key_env(keys_dir, "master")}, ("master",),
                        (8080, 7077, 6066), 8080, "/json/", mounts, alive=True)
        for i in range(spec.workers):
            env = dict(common, SPARK_MASTER_URL=self.external_master_url(),
                       SPARK_WORKER_CORES="1", SPARK_WORKER_MEMORY=spec.worker_memory,
                       **spec.key_env(keys_dir, "worker"))
            self._run_extra(external_worker(i), image, f"external-worker-{i}", env, ("worker",),
                            (8081,), 8081, "/json/", mounts)

    def extras(self) -> list[str]:
        return [n for n in self.state.extras if n != CONTROLLER]

    def extra_alive(self, name: str) -> bool:
        extra = self.state.extras.get(name)
        return bool(extra and extra.container
                    and engine.state(extra.container).get("Running"))

    def stop_extra(self, name: str) -> None:
        extra = self.state.extras.pop(name, None)
        if extra is not None:
            self._remove([extra])
        self.state.save()

    # ---------------------------------------------------------------- client endpoints
    def endpoints(self, topology: Topology) -> Endpoints:
        master_url = ui_url = api_url = token_url = None
        ports = master_ports(topology)
        if ports:
            pod = topology.by_component("master")[0].pod_names()[0]
            rec = self.state.pods.get(pod)
            if rec and rec.container:
                published = engine.published_ports(rec.container)
                master_url = f"spark://127.0.0.1:{published.get(ports[0])}"
                ui_url = f"http://127.0.0.1:{published.get(ports[1])}"
        elif EXTERNAL_MASTER in self.state.extras:
            ext = self.state.extras[EXTERNAL_MASTER]
            published = engine.published_ports(ext.container or "")
            master_url = f"spark://127.0.0.1:{published.get(7077)}"
            ui_url = f"http://127.0.0.1:{published.get(8080)}"
        svc = first_service_of(topology, "api")
        if svc is not None:
            ready = [r for w in topology.endpoints_of(svc) for p in w.pod_names()
                     if (r := self.state.pods.get(p)) and r.ready and r.container]
            if ready:
                w = topology.endpoints_of(svc)[0]
                target = w.main.port_number(svc.ports[0].target_port)
                api_url = (f"http://127.0.0.1:"
                           f"{engine.published_ports(ready[0].container).get(target)}")
            oauth = self.state.extras.get(OAUTH)
            if oauth and oauth.container:
                port = engine.published_ports(oauth.container).get(oauth.port)
                token_url = f"http://127.0.0.1:{port}/token"
        metrics = metrics_port(topology)
        metrics_url = None
        rec = self.state.pods.get(metrics[0]) if metrics else None
        if metrics and rec and rec.container:
            port = engine.published_ports(rec.container).get(metrics[1])
            metrics_url = f"http://127.0.0.1:{port}/metrics" if port else None
        return Endpoints(api_url, token_url, master_url, ui_url, metrics_url)

    def cluster_checks(self, topology) -> list[tuple[str, bool, str]]:
        return []  # NetworkPolicies are not enforced here (reported as not honored)

    # ---------------------------------------------------------------- teardown
    def stop(self) -> list[str]:
        """Remove every container, network and volume with the run's label."""
        found = engine.by_label("container", self.state.run_id)
        self.progress(f"down {self.state.run_id}: removing {len(found)} container(s), the "
                      f"network and volumes labelled {RUN_LABEL}={self.state.run_id}")
        if found:  # no preStop hooks, a short grace (like `kubectl delete --grace-period`)
            self.progress(f"down {self.state.run_id}: SIGTERM, SIGKILL after "
                          f"{DOWN_GRACE:.0f}s (no preStop hooks)")
            docker("stop", "-t", f"{DOWN_GRACE:.0f}", *found, check=False, timeout=120)
        try:
            left = engine.remove_all(self.state.run_id)
        except DockerError as exc:
            left = [str(exc)]
        for rec in list(self.state.pods.values()) + list(self.state.extras.values()):
            rec.container = None
        self.state.stopped = True
        self.state.save()
        self.progress(f"down {self.state.run_id}: "
                      + (f"LEFT: {left}" if left else "nothing of the run is left"))
        return left


def _network(run_id: str) -> str:
    return f"{run_id}-net"
