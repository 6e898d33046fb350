"""The ClusterIP Services of one run: a small asyncio TCP proxy per Service address.

Runs as its own detached process (``python -m simulator.backends.process.proxy CONFIG``) so
Services keep
working after ``up`` returns and between ``scale``/``upgrade`` invocations. CONFIG is a JSON file
the backend rewrites atomically whenever endpoints change::

    {"listeners": [{"service": "rel-api", "ip": "127.31.7.250", "port": 8000,
                    "targets": [["127.31.7.12", 8000], ["127.31.7.13", 8000]]}]}

It is re-read when its content changes (checked every 0.1 s; mtime is too coarse for two writes
in a row); listeners are opened and closed to match, then ``CONFIG.applied`` gets the content's
sha256, so the backend knows when new endpoints are in effect. Each accepted
connection goes to the next target in round-robin order; a target that refuses is skipped (it
died after it was last listed), like kube-proxy's endpoints going not-ready.

Bytes are relayed by asyncio protocols, not streams: what arrives on one side is handed to the
other side's transport as it is (no reader buffer, no await per chunk), and a side whose peer
cannot keep up stops reading until the peer drained (``pause_writing``/``resume_writing``). On
uvloop when it is installed (the API image's event loop). Through this proxy a bare GET
costs about what it costs straight to the pod (docs/performance.md, bench/results/api.json).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

Target = tuple[str, int]


class ProxyDaemon:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.servers: dict[tuple[str, int], asyncio.Server] = {}
        self.targets: dict[tuple[str, int], list[Target]] = {}
        self.next: dict[tuple[str, int], int] = {}
        self.content = b""

    async def reload(self) -> None:
        try:
            content = self.config.read_bytes()
        except FileNotFoundError:
            return
        if content == self.content:
            return
        self.content = content
        try:
            data = json.loads(content)
        except (OSError, ValueError) as exc:
            print(f"proxy: cannot read {self.config}: {exc}", file=sys.stderr, flush=True)
            return
        wanted = {(lst["ip"], int(lst["port"])): [tuple(t) for t in lst["targets"]]
                  for lst in data.get("listeners", [])}
        for key in list(self.servers):
            if key not in wanted:
                self.servers.pop(key).close()
                self.targets.pop(key, None)
                print(f"proxy: closed {key[0]}:{key[1]}", flush=True)
        for key, targets in wanted.items():
            self.targets[key] = targets
            if key not in self.servers:
                try:
                    self.servers[key] = await asyncio.get_running_loop().create_server(
                        lambda key=key: Relay(on_accept=lambda c: self.connect(key, c)),
                        key[0], key[1])
                    print(f"proxy: listening on {key[0]}:{key[1]} -> {targets}", flush=True)
                except OSError as exc:
                    print(f"proxy: cannot listen on {key[0]}:{key[1]}: {exc}", flush=True)
        applied = self.config.with_name(self.config.name + ".applied")
        tmp = applied.with_name(applied.name + ".tmp")
        tmp.write_text(hashlib.sha256(content).hexdigest())
        tmp.replace(applied)

    async def connect(self, key: tuple[str, int], client: Relay) -> None:
        """Find a target for a client that just connected (its reading paused until then)."""
        loop = asyncio.get_running_loop()
        targets = list(self.targets.get(key, []))
        for _ in range(len(targets)):
            i = self.next.get(key, 0) % len(targets)
            self.next[key] = i + 1
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: Relay(client), *targets[i]), 3)
                return
            except (OSError, asyncio.TimeoutError):
                continue
        client.close()

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            await self.reload()
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except asyncio.TimeoutError:
                pass
        for server in self.servers.values():
            server.close()


class Relay(asyncio.Protocol):
    """One side of a proxied connection: what it receives goes to ``peer``'s transport."""

    def __init__(self, peer: Relay | None = None,
                 on_accept: Callable[[Relay], Awaitable[None]] | None = None) -> None:
        self.peer, self.on_accept = peer, on_accept
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []  # what arrived before the peer was connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (uvloop's is no subclass)
        if self.peer is not None:   # the upstream side: pair up and let the client talk
            if self.peer.transport is None or self.peer.transport.is_closing():
                transport.close()   # the client left while we connected
                return
            self.peer.peer = self
            for chunk in self.peer.pending:
                transport.write(chunk)
            self.peer.pending.clear()
            if self.peer.transport is not None:
                self.peer.transport.resume_reading()
        elif self.on_accept is not None:   # the client side: wait for an upstream first
            transport.pause_reading()
            task = asyncio.get_running_loop().create_task(self.on_accept(self))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def data_received(self, data: bytes) -> None:
        peer = self.peer.transport if self.peer is not None else None
        if peer is None:
            self.pending.append(data)
        else:
            peer.write(data)

    def eof_received(self) -> bool:
        self.close_peer()
        return False   # and close this side too, as the stream version did

    def connection_lost(self, exc: Exception | None) -> None:
        self.close_peer()

    def pause_writing(self) -> None:   # our outgoing buffer is full: stop reading the peer
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def close_peer(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()   # sends what is buffered first, then closes

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def main() -> None:
    if len(sys.argv) != 2:
        print("usage: python -m simulator.backends.process.proxy CONFIG.json", file=sys.stderr)
        sys.exit(64)
    print(f"proxy: pid {os.getpid()} config {sys.argv[1]}", flush=True)
    try:
        import uvloop
    except ImportError:
        asyncio.run(ProxyDaemon(Path(sys.argv[1])).run())
    else:
        uvloop.run(ProxyDaemon(Path(sys.argv[1])).run())


if __name__ == "__main__":
    main()
