"""Poll a probe until it says ready or a deadline passes: the simulator's one waiting loop."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Waited:
    ok: bool
    last: str      # what the probe said last: the readiness line, or why it was not ready
    seconds: float


def wait_for(probe: Callable[[], tuple[bool, str]], timeout: float, *,
             interval: float = 0.25) -> Waited:
    """Call ``probe`` until it returns ``(True, what)`` or ``timeout`` seconds have passed.

    A probe that cannot connect (``OSError``) or reads garbage (``ValueError``) is simply not
    ready yet; any other exception (say, the process being waited on has exited) ends the wait.
    """
    t0 = time.monotonic()
    while True:
        try:
            ok, last = probe()
        except (OSError, ValueError) as exc:
            ok, last = False, f"{type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - t0
        if ok or elapsed > timeout:
            return Waited(ok, last, elapsed)
        time.sleep(interval)
