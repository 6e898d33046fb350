"""The kind backend: a real Kubernetes cluster per run, the release installed by the real helm CLI.

Thin on purpose: every step is one command a user could type (``kind``, ``docker``, ``helm``,
``kubectl``), run from the repository root so the helm line is the specification's own
(``helm upgrade --install full-stack ./deploy/charts …``) plus the scenario's values files and
the simulator's ``--set``s. ``--dry-run`` prints every command with the values files' contents
instead of running it (kind cannot run on the development machines: no ``kindest/node`` image
can be pulled there; the nightly CI runs it for real on GitHub's runners).

Per run: a cluster named after the run id (a kind config from ``SPARK_STACK_KIND_CONFIG`` or
``manifests/kind-config.yaml``); the images built from ``images/`` and loaded with
``kind load docker-image``; the owner Secret and the mock OAuth clients created with kubectl
from 0600 files (never values); the mock OAuth server and the service-only scenario's external
Spark from the manifests beside this file; client endpoints by ``kubectl port-forward`` on
127.0.0.1; ``down`` deletes the cluster.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from string import Template

from simulator import images
from simulator.backends.base import (EXTERNAL_MASTER, OAUTH, Endpoints, ExternalSparkSpec,
                                     OAuthSpec, PodStatus, Progress, ReadinessError,
                                     ReconcileResult, first_service_of, master_ports)
from simulator.local.procs import ProcRecord, launch, tail, terminate
from simulator.local.base import stderr_progress
from simulator.run import REPO, ExtraRecord, RunError, RunState
from simulator.topology import Topology

MANIFESTS = Path(__file__).resolve().parent / "manifests"
TOOLS = {  # tool -> (version command, how to install)
    "kind": (["kind", "version"], "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"),
    "helm": (["helm", "version", "--short"], "https://helm.sh/docs/intro/install/"),
    "kubectl": (["kubectl", "version", "--client"],
                "https://kubernetes.io/docs/tasks/tools/ (Debian: apt-get install kubectl)"),
    "docker": (["docker", "version", "--format", "{{.Server.Version}}"],
               "Debian: apt-get install docker.io, then start dockerd"),
}
IMAGE_NAMES = ("spark-job", "api-service", "mock-oauth")



def preflight() -> tuple[dict[str, str], list[str]]:
    """(versions of the tools found, lines naming each missing one with how to install it)."""
    found, missing = {}, []
    for tool, (cmd, how) in TOOLS.items():
        if shutil.which(tool) is None:
            missing.append(f"{tool}: not on PATH; install: {how}")
            continue
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            missing.append(f"{tool}: `{' '.join(cmd)}` failed: {result.stderr.strip()[-300:]}")
        else:
            found[tool] = (result.stdout.strip().splitlines() or ["?"])[0]
    return found, missing


class KindBackend:
    """Realizes a scenario on a kind cluster with helm; state in ``RunState`` (run.json)."""

    honors: tuple[str, ...] = ("NetworkPolicy",)  # kindnet enforces them (kind >= 0.24)
    name = "kind"

    def __init__(self, state: RunState, progress: Progress = stderr_progress) -> None:
        from simulator.backends import BackendUnavailable
        self.state = state
        self.progress = progress
        self.dry_run = bool(state.backend_data.get("dry_run"))
        if not self.dry_run and not state.stopped:
            found, missing = preflight()
            if missing:
                raise BackendUnavailable("the kind backend needs kind, helm, kubectl and a "
                                         "Docker engine:\n  " + "\n  ".join(missing))
            state.backend_data.setdefault("tools", found)

    @staticmethod
    def allocate_subnet(run_id: str, taken: set[str]) -> str:
        return "kind"  # the cluster's own pod network; nothing to allocate on this machine

    @property
    def cluster(self) -> str:
        return f"ss-{self.state.run_id}"[:50]

    @property
    def ns(self) -> str:
        return self.state.namespace

    # ---------------------------------------------------------------- running commands
    def run_code(self, argv: list[str], timeout: float = 900) -> tuple[int, str]:
        """Run (or, in a dry run, print) one command from the repository root: (exit, output)."""
        line = "$ " + shlex.join(argv)
        if self.dry_run:
            print(line, flush=True)
            self.state.backend_data.setdefault("plan", []).append(shlex.join(argv))
            return 0, ""
        self.progress(line)
        result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        return result.returncode, result.stdout + (result.stderr if result.returncode else "")

    def run(self, argv: list[str], *, check: bool = True, timeout: float = 900) -> str:
        code, output = self.run_code(argv, timeout)
        if check and code != 0:
            raise RunError(f"`{shlex.join(argv)}` failed (exit {code}):\n{output[-3000:]}")
        return output

    def _show_file(self, path: Path, secret: bool = False) -> None:
        if self.dry_run:
            body = "(secret: not shown)" if secret else path.read_text().rstrip()
            print(f"# --- {path} ---\n{body}", flush=True)

    def _private_file(self, name: str, content: str) -> Path:
        path = self.state.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        return path

    # ---------------------------------------------------------------- the cluster
    def _ensure_cluster(self) -> None:
        if self.state.backend_data.get("cluster_ready"):
            return
        config = Path(os.environ.get("SPARK_STACK_KIND_CONFIG", MANIFESTS / "kind-config.yaml"))
        self.progress(f"creating kind cluster {self.cluster} (config {config})")
        self._show_file(config)
        self.run(["kind", "create", "cluster", "--name", self.cluster, "--config", str(config),
                  "--wait", "180s"])
        for name in IMAGE_NAMES:
            self._load_image(name)
        if self.ns != "default":
            self.run(["kubectl", "create", "namespace", self.ns])
        secrets = self.state.secrets()
        owner = secrets.get("owner_secret")
        if owner:  # what the chart's ownerSecret.existingSecret names
            self._create_secret(owner["name"], {owner["key"]: owner["value"]})
        keys = secrets.get("spark_security")
        if keys:  # what spark-job.security / api-service.sparkSecurity.existingSecret name
            self._create_secret(keys["name"], keys["data"])
        self.state.backend_data["cluster_ready"] = True
        self.state.save()

    def _create_secret(self, name: str, data: dict[str, str]) -> None:
        """kubectl create secret generic from 0600 files: no value on a command line or in
        the plan."""
        args = []
        for key, value in data.items():
            path = self._private_file(f"{name}.{key}", value)
            self._show_file(path, secret=True)
            args.append(f"--from-file={key}={path}")
        self.run(["kubectl", "-n", self.ns, "create", "secret", "generic", name, *args])

    def _load_image(self, name: str) -> None:
        tag = images.image_tag(name)  # the chart names :<appVersion>
        if self.dry_run:
            self.run(images.build_command(name, Path(f"<build context of images/{name}>")))
        else:
            images.ensure_image(name)  # rebuilt only when images/<name> changed; tags :version
        self.run(["kind", "load", "docker-image", tag, "--name", self.cluster])

    def _apply_manifest(self, name: str, **values: str) -> None:
        text = Template((MANIFESTS / name).read_text()).substitute(NAMESPACE=self.ns, **values)
        path = self.state.dir / name
        path.write_text(text)
        self._show_file(path)
        self.run(["kubectl", "apply", "-f", str(path)])

    def _rollout(self, deployment: str, timeout: str = "300s") -> None:
        self.run(["kubectl", "-n", self.ns, "rollout", "status", f"deployment/{deployment}",
                  f"--timeout={timeout}"])

    # ---------------------------------------------------------------- outside the release
    def issuer_url(self, oauth: OAuthSpec) -> str:
        return f"http://mock-oauth:{oauth.port}"

    def external_master_url(self) -> str:
        return "spark://external-master:7077"

    def start_oauth(self, spec: OAuthSpec) -> None:
        self._ensure_cluster()
        clients = json.dumps({"clients": {k: dict(v) for k, v in spec.clients.items()}})
        self._create_secret("mock-oauth-clients", {"clients.json": clients})
        self._apply_manifest("mock-oauth.yaml", IMAGE=images.image_tag("mock-oauth"),
                             AUDIENCE=spec.audience)
        self._rollout("mock-oauth")
        self.state.extras[OAUTH] = ExtraRecord(OAUTH, ip="mock-oauth", port=spec.port)
        self.state.save()

    def start_external_spark(self, spec: ExternalSparkSpec) -> None:
        self._ensure_cluster()
        self._apply_manifest("external-spark.yaml", IMAGE=images.image_tag("spark-job"),
                             WORKERS=str(spec.workers), WORKER_MEMORY=spec.worker_memory,
                             KEYS_SECRET=spec.keys_secret)
        self._rollout("external-master")
        self._rollout("external-worker")
        self.state.extras[EXTERNAL_MASTER] = ExtraRecord(EXTERNAL_MASTER, ip="external-master")
        self.state.save()

    def extras(self) -> list[str]:
        return [n for n in self.state.extras if not n.startswith("port-forward")]

    def extra_alive(self, name: str) -> bool:
        if self.dry_run:
            return name in self.state.extras
        deployment = {OAUTH: "mock-oauth", EXTERNAL_MASTER: "external-master"}.get(name)
        if deployment is None or name not in self.state.extras:
            return False
        out = self.run(["kubectl", "-n", self.ns, "get", f"deployment/{deployment}", "-o",
                        "jsonpath={.status.readyReplicas}"], check=False)
        return out.strip() not in ("", "0")

    def stop_extra(self, name: str) -> None:
        deployment = {OAUTH: "mock-oauth", EXTERNAL_MASTER: "external-master"}.get(name)
        if deployment:
            self.run(["kubectl", "-n", self.ns, "delete", f"deployment/{deployment}",
                      "--ignore-not-found"])
        self.state.extras.pop(name, None)
        self.state.save()

    # ---------------------------------------------------------------- the release
    def helm_command(self) -> list[str]:
        """The specification's install command for this scenario, as helm upgrade --install."""
        argv = ["helm", "upgrade", "--install", self.state.release, "./deploy/charts"]
        for s in self.state.set_values:  # the scenario's: the specification's own --sets
            argv += ["--set", s]
        if self.ns != "default":
            argv += ["--namespace", self.ns]
        for f in self.state.values_files:
            argv += ["-f", f]
        for s in self.state.set_string_values:
            argv += ["--set-string", s]
        for s in self.state.sim_set_values:  # last, as Stack.render applies them
            argv += ["--set", s]
        return argv + ["--wait", "--timeout", "10m"]

    def apply(self, topology: Topology) -> ReconcileResult:
        self._ensure_cluster()
        for f in self.state.values_files:
            self._show_file(Path(f))
        self.run(self.helm_command(), timeout=900)
        for w in topology.workloads:
            self._rollout(w.name)
        result = ReconcileResult(started=[p for w in topology.workloads for p in w.pod_names()])
        self._forward_ports(topology)
        return result

    def _forward_ports(self, topology: Topology) -> None:
        """kubectl port-forward on 127.0.0.1 for the API, the master UI and the OAuth server."""
        wanted = []
        svc = first_service_of(topology, "api")
        if svc is not None:
            wanted.append(("api", svc.name, svc.ports[0].port))
            wanted.append(("oauth", "mock-oauth", 9000))
        ports = master_ports(topology)
        if ports:
            master = first_service_of(topology, "master")
            wanted.append(("master-ui", master.name if master else "", ports[1]))
        elif EXTERNAL_MASTER in self.state.extras:
            wanted.append(("master-ui", "external-master", 8080))
        for key, service, port in wanted:
            name = f"port-forward-{key}"
            old = self.state.extras.get(name)
            if old and old.proc and ProcRecord.from_json(old.proc).alive():
                continue
            argv = ["kubectl", "-n", self.ns, "port-forward", "--address", "127.0.0.1",
                    f"svc/{service}", f":{port}"]
            if self.dry_run:
                self.run(argv)
                continue
            log = self.state.dir / f"{name}.log"
            rec, _ = launch(name, argv, dict(os.environ), log)
            local = self._forwarded_port(log)
            self.state.extras[name] = ExtraRecord(name, ip="127.0.0.1", port=local,
                                                  log=str(log), proc=rec.to_json())
        self.state.save()

    @staticmethod
    def _forwarded_port(log: Path, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", log.read_text(errors="replace")
                          if log.exists() else "")
            if m:
                return int(m.group(1))
            time.sleep(0.2)
        raise ReadinessError(f"kubectl port-forward printed no local port in {timeout:.0f}s:\n"
                             f"{tail(log)}")

    def endpoints(self, topology: Topology) -> Endpoints:
        def url(key: str, scheme: str = "http", path: str = "") -> str | None:
            rec = self.state.extras.get(f"port-forward-{key}")
            return f"{scheme}://127.0.0.1:{rec.port}{path}" if rec and rec.port else None

        return Endpoints(api_url=url("api"), token_url=url("oauth", path="/token"),
                         spark_master_url=self.external_master_url()
                         if EXTERNAL_MASTER in self.state.extras else None,
                         spark_master_ui_url=url("master-ui"))

    # ---------------------------------------------------------------- status and faults
    def pods(self) -> list[PodStatus]:
        if self.dry_run:
            return []
        out = self.run(["kubectl", "-n", self.ns, "get", "pods", "-l",
                        f"app.kubernetes.io/instance={self.state.release}", "-o", "json"])
        pods = []
        for item in json.loads(out or "{}").get("items", []):
            meta, status = item["metadata"], item.get("status", {})
            labels = meta.get("labels", {})
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in status.get("conditions", []))
            restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses", []))
            pods.append(PodStatus(meta["name"], labels.get("app.kubernetes.io/name", ""),
                                  labels.get("app.kubernetes.io/component", ""),
                                  status.get("podIP", ""), status.get("phase") == "Running",
                                  ready, f"kubectl logs {meta['name']}", "pod", restarts))
        return pods

    def kill_pod(self, pod: str) -> str:
        self.run(["kubectl", "-n", self.ns, "delete", "pod", pod, "--grace-period=0", "--force"])
        return f"pod {pod} (force-deleted)"

    def pod_log(self, pod: str, lines: int = 40) -> str:
        return self.run(["kubectl", "-n", self.ns, "logs", pod, f"--tail={lines}"], check=False)

    def cluster_checks(self, topology: Topology) -> list[tuple[str, bool, str]]:
        """`helm test`, and the NetworkPolicy proof from inside the cluster: a pod without the
        API's labels cannot reach the master's REST port; the API can."""
        code, output = self.run_code(["helm", "test", self.state.release, "--namespace",
                                      self.ns, "--logs"])
        out = [("helm test", code == 0, output.strip()[-300:] or "(dry run)")]
        master = first_service_of(topology, "master")
        apis = topology.by_component("api")
        if master is not None and apis:
            connect = (f"import socket; socket.create_connection(('{master.name}', 6066), 5)")
            code, output = self.run_code(
                ["kubectl", "-n", self.ns, "run", "np-stranger", "--rm", "-i", "--restart=Never",
                 f"--image={images.image_tag('spark-job')}", "--command", "--",
                 "python3", "-c", connect])
            out.append(("NetworkPolicy: a pod without the API's labels cannot reach 6066",
                        self.dry_run or code != 0, output.strip()[-200:] or "(dry run)"))
            code, output = self.run_code(["kubectl", "-n", self.ns, "exec",
                                          f"deploy/{apis[0].name}", "--", "python", "-c",
                                          connect])
            out.append(("NetworkPolicy: the API reaches the master's 6066", code == 0,
                        output.strip()[-200:] or "connected"))
        return out

    # ---------------------------------------------------------------- teardown
    def stop(self) -> list[str]:
        forwards = [ProcRecord.from_json(r.proc) for r in self.state.extras.values() if r.proc]
        left = terminate(forwards) if forwards else []
        self.run(["kind", "delete", "cluster", "--name", self.cluster], check=False)
        self.state.stopped = True
        self.state.save()
        return left

