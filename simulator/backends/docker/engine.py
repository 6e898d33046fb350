"""The Docker engine as the docker backend uses it: the ``docker`` CLI, nothing else.

The CLI (not the SDK) because it is what users have, it is what the image tests already use,
and every call here is one the reader can run by hand. Every object the backend creates carries
the label ``spark-stack.run=<run id>``, so ``down RUN_ID`` finds all of it by label, also after
the simulator was killed before it could record a container id.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence

RUN_LABEL = "spark-stack.run"
POD_LABEL = "spark-stack.pod"


class DockerError(RuntimeError):
    """A docker command failed: the message has the command (no env values) and its stderr."""


def docker(*args: str, timeout: float = 120, check: bool = True,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True,
                            timeout=timeout, input=input)
    if check and result.returncode != 0:
        shown = " ".join(args[:3])
        raise DockerError(f"`docker {shown} …` failed (exit {result.returncode}): "
                          f"{result.stderr.strip()[-1500:]}")
    return result


def by_label(kind: str, run_id: str) -> list[str]:
    """Ids (names for networks and volumes) of the run's containers / networks / volumes."""
    if kind == "container":
        out = docker("ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}").stdout
    elif kind == "network":
        out = docker("network", "ls", "-q", "--filter", f"label={RUN_LABEL}={run_id}").stdout
    else:
        out = docker("volume", "ls", "-q", "--filter", f"label={RUN_LABEL}={run_id}").stdout
    return out.split()


def inspect(container: str) -> dict | None:
    result = docker("inspect", container, check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)[0]


def state(container: str) -> dict:
    """``State`` of a container (``Status``, ``Running``, ``ExitCode``, ``OOMKilled``…)."""
    info = inspect(container)
    return info["State"] if info else {"Status": "gone", "Running": False}


def published_ports(container: str) -> dict[int, int]:
    """container port -> host port on 127.0.0.1."""
    info = inspect(container) or {}
    out = {}
    for key, bindings in ((info.get("NetworkSettings") or {}).get("Ports") or {}).items():
        for b in bindings or []:
            if b.get("HostIp") in ("127.0.0.1", ""):
                out[int(key.split("/")[0])] = int(b["HostPort"])
    return out


def logs(container: str, lines: int = 40) -> str:
    result = docker("logs", "--tail", str(lines), container, check=False)
    return (result.stdout + result.stderr).strip() or "(no log)"


def exec_in(container: str, command: Sequence[str], timeout: float) -> int:
    try:
        return docker("exec", container, *command, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        return 124


def remove_all(run_id: str) -> list[str]:
    """Remove every container, network and volume labelled with the run; returns leftovers."""
    containers = by_label("container", run_id)
    if containers:
        docker("rm", "-f", "-v", *containers, check=False, timeout=180)
    networks = by_label("network", run_id)
    if networks:
        docker("network", "rm", *networks, check=False)
    volumes = by_label("volume", run_id)
    if volumes:
        docker("volume", "rm", "-f", *volumes, check=False)
    return ([f"container {c}" for c in by_label("container", run_id)]
            + [f"network {n}" for n in by_label("network", run_id)]
            + [f"volume {v}" for v in by_label("volume", run_id)])
