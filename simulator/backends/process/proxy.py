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
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
from pathlib import Path

Target = tuple[str, int]


class ProxyDaemon:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.servers: dict[tuple[str, int], asyncio.base_events.Server] = {}
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
                    self.servers[key] = await asyncio.start_server(
                        lambda r, w, key=key: self.handle(key, r, w), key[0], key[1])
                    print(f"proxy: listening on {key[0]}:{key[1]} -> {targets}", flush=True)
                except OSError as exc:
                    print(f"proxy: cannot listen on {key[0]}:{key[1]}: {exc}", flush=True)
        applied = self.config.with_name(self.config.name + ".applied")
        tmp = applied.with_name(applied.name + ".tmp")
        tmp.write_text(hashlib.sha256(content).hexdigest())
        tmp.replace(applied)

    async def handle(self, key: tuple[str, int], reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        targets = list(self.targets.get(key, []))
        upstream = None
        for _ in range(len(targets)):
            i = self.next.get(key, 0) % len(targets)
            self.next[key] = i + 1
            try:
                upstream = await asyncio.wait_for(asyncio.open_connection(*targets[i]), 3)
                break
            except (OSError, asyncio.TimeoutError):
                continue
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        await asyncio.gather(self.pipe(reader, up_writer), self.pipe(up_reader, writer))

    @staticmethod
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except OSError:
                pass

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


def main() -> None:
    if len(sys.argv) != 2:
        print("usage: python -m simulator.backends.process.proxy CONFIG.json", file=sys.stderr)
        sys.exit(64)
    print(f"proxy: pid {os.getpid()} config {sys.argv[1]}", flush=True)
    asyncio.run(ProxyDaemon(Path(sys.argv[1])).run())


if __name__ == "__main__":
    main()
