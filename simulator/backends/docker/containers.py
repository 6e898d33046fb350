"""A pod of the rendered chart as one ``docker run``, honored as OpenShift restricted-v2 runs it.

Pure functions (no Docker needed, so the fast tests check them):
- the user is an arbitrary UID from the run's namespace-like range (``1000000000 + k*10000``, as
  OpenShift gives each namespace a block) with GID 0, whatever ``runAsUser`` the chart set
  (restricted-v2 assigns the UID; the chart leaves it out in OpenShift mode);
- ``readOnlyRootFilesystem`` → ``--read-only``; each ``emptyDir`` → a tmpfs of its
  ``sizeLimit``, mode 0777 as the kubelet creates emptyDirs; Secret and ConfigMap volumes →
  files under the run dir bind-mounted read-only (group 0 may read them, nobody else);
- ``capabilities.drop`` / ``add`` → ``--cap-drop`` / ``--cap-add``;
  ``allowPrivilegeEscalation: false`` → ``no-new-privileges``; seccomp RuntimeDefault is
  Docker's default profile; ``resources.limits`` → ``--memory`` / ``--cpus``;
- ``status.podIP`` is the container's own address (a static ``--ip`` on the run's network), and
  every Service selecting the pod adds its names (``NAME``, ``NAME.NS``, ``NAME.NS.svc``,
  ``NAME.NS.svc.cluster.local``) as network aliases, so Docker's DNS resolves a headless Service
  to its pods and round-robins a ClusterIP Service's name over its replicas;
- every container port (and probe port) is published on 127.0.0.1 at an ephemeral port: the
  simulator's probes and clients use only those, never the container network from the host.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simulator.backends.base import claims_dir
from simulator.backends.docker.engine import POD_LABEL, RUN_LABEL
from simulator.topology import Container, Topology, Workload, quantity

UID_BASE, UID_BLOCK, UID_BLOCKS = 1_000_000_000, 10_000, 10_000


def run_uid(run_id: str) -> int:
    """The run's arbitrary UID: the first of its namespace-like block, >= 1000000000."""
    digest = hashlib.sha256(run_id.encode()).digest()
    return UID_BASE + (int.from_bytes(digest[:4], "big") % UID_BLOCKS) * UID_BLOCK


@dataclass
class ContainerSpec:
    """``docker run`` arguments (without env values, which go in ``env_file``) plus notes."""

    name: str
    args: list[str]
    env: dict[str, str]
    files: dict[Path, tuple[str, int]] = field(default_factory=dict)  # host path -> (text, mode)
    notes: list[str] = field(default_factory=list)


def aliases(topology: Topology, w: Workload) -> list[str]:
    out: list[str] = []
    for svc in topology.services:
        if svc.selects(w):
            out += [h for h in svc.host_names() if h not in out]
    return out


def port_notes(topology: Topology) -> list[str]:
    """ClusterIP Services whose port differs from the target port: Docker DNS cannot remap."""
    notes = []
    for svc in topology.services:
        for w in topology.endpoints_of(svc):
            for sp in svc.ports:
                target = w.main.port_number(sp.target_port)
                if target != sp.port:
                    notes.append(f"Service/{svc.name}: port {sp.port} → {target} is not "
                                 f"remapped on Docker; inside the network its name reaches "
                                 f"the pods' port {target}")
            break
    return sorted(set(notes))


def _security_args(c: Container, uid: int) -> list[str]:
    sec = c.security
    args = ["--user", f"{uid}:0"]
    if sec.read_only_root:
        args.append("--read-only")
    for cap in sec.drop_capabilities:
        args += ["--cap-drop", cap]
    for cap in sec.add_capabilities:
        args += ["--cap-add", cap]
    if sec.allow_privilege_escalation is False:
        args += ["--security-opt", "no-new-privileges"]
    if sec.seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    if c.resources.memory_limit:
        args += ["--memory", str(c.resources.memory_limit)]
    if c.resources.cpu_limit:
        args += ["--cpus", f"{c.resources.cpu_limit:g}"]
    return args


def _volume_args(c: Container, pod_dir: Path, spec: ContainerSpec) -> list[str]:
    args = []
    for m in c.mounts:
        if m.kind == "emptyDir":
            size = f",size={int(quantity(m.size_limit))}" if m.size_limit else ""
            # exec: Spark extracts native libraries to /tmp and maps them
            args += ["--tmpfs", f"{m.mount_path}:rw,exec,nosuid,nodev,mode=0777{size}"]
        elif m.kind == "persistentVolumeClaim" and m.claim:
            # the run's directory for the claim, outliving the pod's containers; writable by
            # the arbitrary UID as a claim mounted with fsGroup 0 would be
            host = claims_dir(pod_dir) / m.claim
            host.mkdir(parents=True, exist_ok=True)
            host.chmod(0o777)
            args += ["-v", f"{host}:{m.mount_path}{':ro' if m.read_only else ''}"]
        elif m.kind in ("secret", "configMap"):
            host = pod_dir / "volumes" / m.name
            for rel, content in m.files:
                spec.files[host / rel] = (content, 0o640 if m.kind == "secret" else 0o644)
            host.mkdir(parents=True, exist_ok=True)
            args += ["-v", f"{host}:{m.mount_path}:ro"]
        else:
            spec.notes.append(f"{m.kind} volume {m.name} at {m.mount_path} is not honored on "
                              f"Docker; the path is part of the read-only root")
    return args


def pod_spec(run_id: str, network: str, pod: str, ip: str, w: Workload, topology: Topology,
             image: str, pod_dir: Path, extra_env: dict[str, str] | None = None,
             labels: dict[str, str] | None = None,
             extra_aliases: Sequence[str] = ()) -> ContainerSpec:
    """The ``docker run`` of ``pod`` (replica of ``w``) at ``ip`` on ``network``."""
    c = w.main
    spec = ContainerSpec(name=f"{run_id}-{pod}", args=[], env={})
    for var in c.env:
        spec.env[var.name] = var.resolve(pod, ip, w.namespace)
    spec.env.update(extra_env or {})
    ports = sorted({p.port for p in c.ports}
                   | {p.port for p in (c.startup, c.readiness, c.liveness)
                      if p is not None and p.port})
    args = ["-d", "--name", spec.name, "--hostname", pod[:63],
            "--label", f"{RUN_LABEL}={run_id}", "--label", f"{POD_LABEL}={pod}",
            "--network", network, "--ip", ip]
    for key, value in (labels or {}).items():
        args += ["--label", f"{key}={value}"]
    for alias in [*aliases(topology, w), *extra_aliases]:
        args += ["--network-alias", alias]
    for port in ports:
        args += ["-p", f"127.0.0.1::{port}"]
    args += _security_args(c, run_uid(run_id))
    args += _volume_args(c, pod_dir, spec)
    args += ["--env-file", str(pod_dir / "env")]
    if c.command:
        args += ["--entrypoint", c.command[0]]
    args += [image, *c.command[1:], *c.args]
    spec.args = args
    for extra in w.containers[1:]:
        spec.notes.append(f"{w.kind}/{w.name}: sidecar {extra.name} ({extra.image}) is not run")
    return spec


def write_files(spec: ContainerSpec, pod_dir: Path) -> None:
    """The env file (0600: it may hold Secret values) and the Secret/ConfigMap files."""
    pod_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for key, value in spec.env.items():
        if "\n" in value:
            raise ValueError(f"env {key} has a newline: Docker env files cannot carry it")
        lines.append(f"{key}={value}")
    path = pod_dir / "env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    for file, (content, mode) in spec.files.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content)
        if os.geteuid() == 0:
            os.chown(file, -1, 0)  # group 0: the container's GID may read it
        file.chmod(mode)
