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
             interval: float = 0.25, report: Callable[[float, str], None] | None = None,
             report_every: float = 5.0) -> Waited:
    """Call ``probe`` until it returns ``(True, what)`` or ``timeout`` seconds have passed.

    A probe that cannot connect (``OSError``) or reads garbage (``ValueError``) is simply not
    ready yet; any other exception (say, the process being waited on has exited) ends the wait.
    ``report(elapsed, last)`` is called every ``report_every`` seconds while it waits, so a long
    wait says what it waits for.
    """
    t0 = time.monotonic()
    reported = t0
    while True:
        try:
            ok, last = probe()
        except (OSError, ValueError) as exc:
            ok, last = False, f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if ok or now - t0 > timeout:
            return Waited(ok, last, now - t0)
        if report is not None and now - reported >= report_every:
            reported = now
            report(now - t0, last)
        time.sleep(interval)
