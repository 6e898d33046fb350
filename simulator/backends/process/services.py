"""ClusterIP Services on the process backend: addresses, and the proxy process that serves them.

A headless Service's name resolves to its (first) endpoint pod's address; a ClusterIP Service
gets its own loopback address where ``proxy.py`` (a detached process, see its docstring) listens
on every Service port and round-robins to the READY endpoints only, as kube-proxy does.
"""
from __future__ import annotations

import hashlib
import json
import socket
import sys
import time

from simulator.backends.base import Progress, ReadinessError
from simulator.local import host_env
from simulator.local.procs import ProcRecord, launch, tail
from simulator.run import REPO, ExtraRecord, RunState
from simulator.topology import Topology

PROXY = "proxy"


def named_endpoints(topology: Topology) -> set[str]:
    """Pods whose own address is what a headless Service's name resolves to for the others
    (env values are resolved once, at start): they keep their address when replaced."""
    referenced = {s.name for w in topology.workloads for s in topology.referenced_services(w)}
    return {w.pod_names()[0] for svc in topology.services
            if svc.headless and svc.name in referenced
            for w in topology.endpoints_of(svc)[:1] if w.replicas}


def service_addresses(state: RunState, topology: Topology, notes: list[str]) -> dict[str, str]:
    """Service name → the address its host names resolve to for the pods."""
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
            addresses[svc.name] = state.ip(f"pod/{endpoints[0]}")
        else:
            addresses[svc.name] = state.ip(f"svc/{svc.name}")
    return addresses


class ServiceProxy:
    """The run's proxy process: its config follows the ready endpoints of every ClusterIP
    Service; ``sync`` waits until the proxy applied the latest config and listens."""

    def __init__(self, state: RunState, progress: Progress) -> None:
        self.state = state
        self.progress = progress
        self.path = state.dir / "proxy.json"
        self._sha: str | None = None

    def listeners(self, topology: Topology) -> list[dict]:
        out = []
        for svc in topology.services:
            if svc.headless:
                continue
            targets: dict[int, list[list]] = {sp.port: [] for sp in svc.ports}
            for w in topology.endpoints_of(svc):
                for pod in w.pod_names():
                    rec = self.state.pods.get(pod)
                    if not rec or not rec.ready:
                        continue
                    for sp in svc.ports:
                        targets[sp.port].append([rec.ip, w.main.port_number(sp.target_port)])
            for sp in svc.ports:
                out.append({"service": svc.name, "ip": self.state.ip(f"svc/{svc.name}"),
                            "port": sp.port, "targets": targets[sp.port]})
        return out

    def write(self, topology: Topology) -> None:
        """Write the config (atomically) and start the proxy process if it is not running."""
        listeners = self.listeners(topology)
        if not listeners and PROXY not in self.state.extras:
            return
        content = json.dumps({"listeners": listeners}, indent=1).encode()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(content)
        tmp.replace(self.path)
        self._sha = hashlib.sha256(content).hexdigest()
        extra = self.state.extras.get(PROXY)
        rec = ProcRecord.from_json(extra.proc) if extra and extra.proc else None
        if rec is None or not rec.alive():
            env = host_env()
            env["PYTHONPATH"] = str(REPO)
            log = self.state.dir / "proxy.log"
            rec, _popen = launch(PROXY, [sys.executable, "-m", "simulator.backends.process.proxy",
                                         str(self.path)], env, log)
            self.state.extras[PROXY] = ExtraRecord(PROXY, log=str(log), proc=rec.to_json())
            self.progress(f"started the Service proxy, pid {rec.pid}")
            self.state.save()

    def sync(self, topology: Topology, timeout: float = 15.0) -> None:
        """Wait until the proxy applied the latest endpoints and listens on every Service port."""
        deadline = time.monotonic() + timeout
        applied = self.path.with_name(self.path.name + ".applied")
        log = self.state.dir / "proxy.log"
        while self._sha and not (applied.exists() and applied.read_text() == self._sha):
            if time.monotonic() > deadline:
                raise ReadinessError(f"the Service proxy did not apply its new endpoints in "
                                     f"{timeout:.0f}s\n{tail(log)}")
            time.sleep(0.05)
        for lst in self.listeners(topology):
            while True:
                try:
                    with socket.create_connection((lst["ip"], lst["port"]), timeout=1):
                        break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        raise ReadinessError(
                            f"Service {lst['service']}: proxy not listening on {lst['ip']}:"
                            f"{lst['port']} ({exc})\n{tail(log)}") from exc
                    time.sleep(0.1)
