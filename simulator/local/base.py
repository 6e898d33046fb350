"""One local process shaped like a testcontainers module: configure, start, wait until ready, stop.

``LocalComponent`` holds the configuration (name, argv, env, log path, cwd) from its constructor;
``start()`` launches the process in its own session (``procs.launch``), waits with the
component's probe through ``simulator.waiting.wait_for`` and returns the running component;
``stop()`` always cleans up: SIGTERM to the process group, a grace period, SIGKILL, with the start
time checked before any signal (``procs.terminate``). A component that fails to start is stopped
before ``start()`` raises ``ComponentStartError``, so ``with Component(...) as c:`` leaves nothing
behind either way. ``start()`` after ``stop()`` starts it again with the same configuration (a
restart; the log is appended to).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from simulator.local import procs
from simulator.local.procs import ProcRecord
from simulator.waiting import Waited, wait_for

Probe = Callable[[], "tuple[bool, str]"]
Progress = Callable[[str], None]
C = TypeVar("C", bound="LocalComponent")

# Host variables a local process may see: enough to find java and python and the CA bundle,
# nothing else of the caller's session (no SPARK_*, no PYTHONPATH, no stray settings).
HOST_ENV = ("PATH", "JAVA_HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE")


def host_env() -> dict[str, str]:
    """The ``HOST_ENV`` variables that are set here."""
    return {k: os.environ[k] for k in HOST_ENV if k in os.environ}


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ComponentStartError(RuntimeError):
    """A local component did not become ready: what the probe last saw, the log tail, a hint."""

    def __init__(self, component: str, what: str, *, last: str, log_tail: str, hint: str,
                 log_path: str | Path | None = None) -> None:
        self.component = component
        self.what = what
        self.last = last
        self.log_tail = log_tail
        self.hint = hint
        self.log_path = str(log_path) if log_path is not None else None
        where = f" ({self.log_path})" if self.log_path else ""
        super().__init__(f"{component} {what}; the probe last saw: {last}\n"
                         f"--- last lines of the log{where} ---\n{log_tail}\n--- hint: {hint}")


class LocalComponent:
    """A process started from ``argv`` with exactly ``env``; see the module docstring."""

    #: said in a ComponentStartError when nothing more specific is known
    hint = "the log above says why"

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path,
                 cwd: Path | None = None, *, ready_timeout: float = 60.0,
                 stop_grace: float = 8.0) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = Path(log_path)
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        self.stop_grace = stop_grace
        self.process: subprocess.Popen[bytes] | None = None
        self.record: ProcRecord | None = None
        self.waited: Waited | None = None

    # ------------------------------------------------------------------ overridable
    def probe(self) -> tuple[bool, str]:
        """One readiness check: ``(ready, what was seen)``. Default: ready once started."""
        return True, "started"

    def before_start(self) -> None:
        """Runs before the process is launched (the Spark components warm up CDS here)."""

    # ------------------------------------------------------------------ lifecycle
    def start(self: C, timeout: float | None = None) -> C:
        """Launch, wait until ``probe`` says ready (up to ``timeout``, default the
        constructor's ``ready_timeout``); on any failure stop first, then raise."""
        if self.alive():
            return self
        try:
            self.launch()
            self.wait_ready(self.probe, self.ready_timeout if timeout is None else timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self: C) -> C:
        """Start the process without waiting (``start()`` = this + ``wait_ready``), so several
        components can come up side by side; the caller stops it if anything fails."""
        self.before_start()
        if self.cwd is not None:
            Path(self.cwd).mkdir(parents=True, exist_ok=True)
        try:
            self.record, self.process = procs.launch(self.name, self.argv, self.env,
                                                     self.log_path, cwd=self.cwd)
        except OSError as exc:
            raise ComponentStartError(
                self.name, f"could not be launched ({exc})", last="not launched",
                log_tail=self.log_tail(), hint=f"check the command {self.argv[:3]} and "
                f"that {self.cwd or 'the working directory'} is usable",
                log_path=self.log_path) from exc
        return self

    def wait_ready(self, probe: Probe, timeout: float) -> Waited:
        """Poll ``probe`` until ready; raises ``ComponentStartError`` if the process exits first
        or ``timeout`` seconds pass."""
        def checked() -> tuple[bool, str]:
            if self.process is not None and self.process.poll() is not None:
                raise ComponentStartError(
                    self.name, f"exited with code {self.process.returncode} before it was ready",
                    last=last[0], log_tail=self.log_tail(), hint=self.hint,
                    log_path=self.log_path)
            ok, what = probe()
            last[0] = what
            return ok, what

        last = ["nothing yet"]
        waited = wait_for(checked, timeout)
        if not waited.ok:
            raise ComponentStartError(self.name, f"not ready after {timeout:.0f} s",
                                      last=waited.last, log_tail=self.log_tail(),
                                      hint=self.hint, log_path=self.log_path)
        self.waited = waited
        return waited

    def stop(self, grace: float | None = None) -> list[str]:
        """SIGTERM the process group, wait ``grace`` s, SIGKILL the rest; never raises.

        Returns what could not be killed (empty when all is gone)."""
        if self.record is None:
            return []
        try:
            left = procs.terminate([self.record], self.stop_grace if grace is None else grace)
        except Exception as exc:  # teardown must never hide the error that led to it
            left = [f"{self.name}: stopping failed: {exc}"]
        if self.process is not None:
            try:
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                left.append(f"{self.name}: pid {self.process.pid} still running")
        self.process = None
        return left

    def alive(self) -> bool:
        """The process we started still runs (same PID and start time, not a zombie)."""
        if self.record is None:
            return False
        if self.process is not None and self.process.poll() is not None:
            return False
        return self.record.alive()

    def log_tail(self, lines: int = 40) -> str:
        return procs.tail(self.log_path, lines)

    def __enter__(self: C) -> C:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        pid = self.record.pid if self.record else None
        return f"{type(self).__name__}({self.name!r}, pid={pid}, log={str(self.log_path)!r})"


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET ``url`` (loopback only): status and body; an HTTP error status raises ``OSError``."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback URLs)
        return resp.status, resp.read()


def http_json(url: str, timeout: float = 5.0) -> Any:
    """GET a JSON document (the master's /json/, a REST status)."""
    return json.loads(http_get(url, timeout)[1].decode())
