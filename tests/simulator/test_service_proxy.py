"""The process backend's Service proxy (simulator/backends/process/proxy.py) as the real process
the backend starts, in front of real TCP servers: round-robin over the targets, a target that
refuses is skipped, large transfers arrive intact both ways (the proxy stops reading a side whose
peer cannot keep up), and a side that closes closes the other.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.local import free_loopback
from simulator.run import REPO


class _Named(socketserver.BaseRequestHandler):
    """Answers 'NAME\\n', then echoes everything it reads until the client closes."""

    def handle(self) -> None:
        self.request.sendall(self.server.name.encode() + b"\n")  # type: ignore[attr-defined]
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def targets() -> Iterator[list[tuple[str, int]]]:
    servers = []
    for name in ("one", "two"):
        ip, _ = free_loopback()
        server = _Server((ip, 0), _Named)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield [server.server_address[:2] for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


def _proxy(tmp_path: Path, targets: list) -> Iterator[tuple[str, int]]:
    ip, port = free_loopback()
    config = tmp_path / "proxy.json"
    content = json.dumps({"listeners": [{"service": "svc", "ip": ip, "port": port,
                                          "targets": [list(t) for t in targets]}]}).encode()
    config.write_bytes(content)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = (tmp_path / "proxy.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "simulator.backends.process.proxy",
                                str(config)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        applied = config.with_name("proxy.json.applied")
        deadline = time.monotonic() + 30
        while not (applied.exists()
                   and applied.read_text() == hashlib.sha256(content).hexdigest()):
            assert process.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "proxy.log").read_text()
            time.sleep(0.05)
        yield ip, port
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _greeting(sock: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        assert chunk, f"closed after {line!r}"
        line += chunk
    return line.strip()


def test_round_robin_and_a_refusing_target_is_skipped(tmp_path, targets) -> None:
    dead_ip, dead_port = free_loopback()   # nothing listens there
    for address in _proxy(tmp_path, [targets[0], (dead_ip, dead_port), targets[1]]):
        seen = []
        for _ in range(4):
            with socket.create_connection(address, timeout=10) as sock:
                seen.append(_greeting(sock))
        assert sorted(set(seen)) == [b"one", b"two"]
        assert seen[0] != seen[1] and seen[:2] == seen[2:]   # alternating, the dead one skipped


def test_large_transfers_arrive_intact_both_ways(tmp_path, targets) -> None:
    payload = os.urandom(8 * 1024 * 1024)
    for address in _proxy(tmp_path, targets[:1]):
        with socket.create_connection(address, timeout=30) as sock:
            assert _greeting(sock) == b"one"
            received = bytearray()

            def read() -> None:
                while len(received) < len(payload):
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        break
                    received.extend(chunk)

            reader = threading.Thread(target=read)
            reader.start()
            sock.sendall(payload)   # while the echo comes back: both directions at once
            reader.join(60)
            assert bytes(received) == payload


def test_a_side_that_closes_closes_the_other(tmp_path, targets) -> None:
    for address in _proxy(tmp_path, targets[:1]):
        sock = socket.create_connection(address, timeout=10)
        assert _greeting(sock) == b"one"
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
        sock.close()   # the proxy closes its upstream; the server's handler then ends
        with socket.create_connection(address, timeout=10) as again:
            assert _greeting(again) == b"one"
