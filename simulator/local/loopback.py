"""Random loopback addresses with free ports, so parallel runs on one machine never collide.

Every local process binds its own ``127.x.y.z`` (x, y in 10..250): the Linux loopback answers
the whole 127.0.0.0/8, so each component gets the ports the image uses without a clash.
"""
from __future__ import annotations

import random
import socket
from collections.abc import Iterable


def port_free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def free_loopback(port: int | None = None) -> tuple[str, int]:
    """A random 127.x.y.z and ``port`` (or a port the kernel picks) free on it."""
    for _ in range(100):
        ip = f"127.{random.randint(10, 250)}.{random.randint(10, 250)}.{random.randint(2, 250)}"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((ip, port or 0))
            except OSError:
                continue
            return ip, sock.getsockname()[1]
    raise RuntimeError("no free loopback address found after 100 tries")


def free_block(ports: Iterable[int], hosts: int = 3) -> str:
    """``127.x.y`` whose hosts ``.1`` .. ``.<hosts>`` all have ``ports`` free."""
    ports = tuple(ports)
    for _ in range(50):
        prefix = f"127.{random.randint(10, 250)}.{random.randint(10, 250)}"
        if all(port_free(f"{prefix}.{n}", p) for n in range(1, hosts + 1) for p in ports):
            return prefix
    raise RuntimeError(f"no 127.x.y.0/24 block with ports {ports} free after 50 tries")
