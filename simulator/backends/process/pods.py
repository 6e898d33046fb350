"""How a pod of the rendered chart becomes a local process: command, environment, paths.

Only the images' own entrypoints are run:
- image repository ending in ``spark-job`` → ``bash images/spark-job/entrypoint.sh ARGS`` with the
  environment the image's Dockerfile would give (``SPARK_HOME`` etc., mapped to this host);
- ``api-service`` → ``python -m spark_api`` with ``images/api-service`` on ``PYTHONPATH``;
- anything else is not run, and said so.
``status.podIP`` is the pod's own ``127.A.B.N``; Service host names in env values and args
resolve to the headless Service's endpoint pod or the ClusterIP Service's proxy address. Paths
under a volume's mountPath become the pod's own directory (emptyDir honored; Secret/ConfigMap
files written there, Secrets mode 0600), image paths (``/opt/spark-jobs``) the repository's copy.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simulator.backends.base import claims_dir
from simulator.local import host_env
from simulator.local.spark import spark_image_env
from simulator.run import REPO
from simulator.topology import Container, Topology, VolumeMount, Workload, resolve_hosts

SPARK_ENTRYPOINT = REPO / "images" / "spark-job" / "entrypoint.sh"
SPARK_JOBS = REPO / "images" / "spark-job" / "jobs"
API_ROOT = REPO / "images" / "api-service"
# Paths inside the images that the repository holds on this host.
_IMAGE_PATHS = (("/opt/spark-jobs", SPARK_JOBS),)
# The spark-job image's scripts (hooks and exec probes name them), as the Dockerfile copies them.
_IMAGE_SCRIPTS = (("/opt/spark-stack", SPARK_ENTRYPOINT.parent),)


def image_kind(container: Container) -> str | None:
    """``spark-job`` | ``api-service`` | None (an image this backend cannot run)."""
    repo = container.image_repo
    for kind in ("spark-job", "api-service"):
        if repo.endswith(kind):
            return kind
    return None


@dataclass
class PodLaunch:
    """Everything needed to start one pod as a process."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    notes: list[str] = field(default_factory=list)


def volume_dir(m: VolumeMount, pod_dir: Path) -> Path:
    """The host directory behind a volume: the pod's own, or the run's claim directory."""
    if m.kind == "persistentVolumeClaim" and m.claim:
        return claims_dir(pod_dir) / m.claim
    return pod_dir / "volumes" / m.name


def _map_path(value: str, mounts: Sequence[VolumeMount], pod_dir: Path) -> str:
    for m in mounts:
        if value == m.mount_path or value.startswith(m.mount_path.rstrip("/") + "/"):
            return str(volume_dir(m, pod_dir)) + value[len(m.mount_path.rstrip("/")):]
    for image_path, host in _IMAGE_PATHS:
        if value == image_path or value.startswith(image_path + "/"):
            return str(host) + value[len(image_path):]
    return value


def image_command(command: Sequence[str]) -> list[str]:
    """An exec hook's or probe's command with the image's script paths mapped to this host."""
    out = []
    for arg in command:
        for image_path, host in _IMAGE_SCRIPTS + _IMAGE_PATHS:
            if arg.startswith(image_path + "/"):
                arg = str(host) + arg[len(image_path):]
                break
        out.append(arg)
    return out


def _write_volumes(c: Container, pod_dir: Path) -> None:
    for m in c.mounts:
        vol = volume_dir(m, pod_dir)
        vol.mkdir(parents=True, exist_ok=True)
        for rel, content in m.files:
            f = vol / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(content)
            if m.kind == "secret":
                f.chmod(0o600)


def image_env(kind: str | None, home: Path) -> dict[str, str]:
    """What the image's Dockerfile ENV provides, mapped to this host."""
    if kind == "spark-job":
        return spark_image_env(home)
    if kind == "api-service":
        return {"PYTHONPATH": str(API_ROOT), "HOME": str(home)}
    return {"HOME": str(home)}


def pod_launch(pod: str, w: Workload, topology: Topology, addresses: Mapping[str, str],
               ip: str, pod_dir: Path) -> PodLaunch:
    """The process for ``pod``: the image's entrypoint with the manifest's env, mapped here."""
    c = w.main
    kind = image_kind(c)
    env = host_env()
    image = image_env(kind, pod_dir / "home")
    env.update(image)
    mounts = sorted(c.mounts, key=lambda m: len(m.mount_path), reverse=True)
    _write_volumes(c, pod_dir)
    for var in c.env:
        value = var.resolve(pod, ip, w.namespace)
        value = resolve_hosts(value, addresses, topology.services)
        env[var.name] = _map_path(value, mounts, pod_dir)
    if kind == "spark-job":
        # The machine's AppCDS cache, as the image has its archives baked in (a manifest that
        # names another dir, e.g. an emptyDir, would start every JVM cold).
        env["SPARK_CDS_DIR"] = image["SPARK_CDS_DIR"]
    Path(env.get("HOME", pod_dir / "home")).mkdir(parents=True, exist_ok=True)
    args = [resolve_hosts(a, addresses, topology.services) for a in c.args]
    notes = []
    if c.command:
        notes.append(f"{w.kind}/{w.name}: container command {list(c.command)} ignored; the "
                     f"image's entrypoint is run")
    for extra in w.containers[1:]:
        notes.append(f"{w.kind}/{w.name}: sidecar {extra.name} ({extra.image}) is not run")
    if kind == "spark-job":
        argv = ["bash", str(SPARK_ENTRYPOINT), *args]
    else:
        argv = [sys.executable, "-m", "spark_api", *args]
    return PodLaunch(argv, env, pod_dir, notes)
