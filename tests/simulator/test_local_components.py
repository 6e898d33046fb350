"""simulator.local's component shape with real processes (no JVM): a failed start raises with the
probe's last answer, the log tail and a hint and leaves nothing running; stop() ends the whole
process group; the mock OAuth server as a process hands out real tokens from a 0600 clients file.
"""
from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

import psutil
import pytest

from simulator.local import ComponentStartError, LocalComponent, MockOAuthProcess, free_loopback
from simulator.local.base import host_env
from spark_stack_client import client_credentials_token

# A parent that starts a child which ignores SIGTERM, prints both PIDs, then waits.
FAMILY = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
print(f"pids {os.getpid()} {child.pid}", flush=True)
time.sleep(600)
"""


class Stubborn(LocalComponent):
    """Never ready: the probe answers, but says no."""

    hint = "this one is never ready"

    def probe(self) -> tuple[bool, str]:
        return False, "the probe says no"


def _pids(log: Path) -> list[int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines() if log.exists() else []:
            if line.startswith("pids "):
                return [int(p) for p in line.split()[1:]]
        time.sleep(0.05)
    raise AssertionError(f"no pids in {log}")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_process_that_exits_raises_with_its_log_and_hint(tmp_path: Path) -> None:
    comp = Stubborn("early-exit", [sys.executable, "-c", "print('cannot bind: boom'); exit(3)"],
                    host_env(), tmp_path / "exit.log", ready_timeout=30)
    with pytest.raises(ComponentStartError) as info:
        comp.start()
    err = info.value
    assert "exited with code 3" in str(err)
    assert "cannot bind: boom" in err.log_tail
    assert err.hint == "this one is never ready" and err.hint in str(err)
    assert not comp.alive()


def test_not_ready_in_time_stops_the_whole_group_and_says_what_it_saw(tmp_path: Path) -> None:
    comp = Stubborn("stubborn", [sys.executable, "-c", FAMILY], host_env(),
                    tmp_path / "family.log", ready_timeout=3, stop_grace=1)
    with pytest.raises(ComponentStartError) as info:
        with comp:
            pytest.fail("a component that never gets ready must not enter the with block")
    assert info.value.last == "the probe says no"
    assert "not ready after 3 s" in str(info.value)
    parent, child = _pids(tmp_path / "family.log")
    assert _gone(parent) and _gone(child), "start failed but processes were left running"


def test_stop_ends_the_group_even_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    comp = LocalComponent("family", [sys.executable, "-c", FAMILY], host_env(),
                          tmp_path / "family.log", stop_grace=1)
    with comp:
        parent, child = _pids(tmp_path / "family.log")
        assert comp.alive() and comp.record is not None and comp.record.pid == parent
    assert not comp.alive()
    assert _gone(parent) and _gone(child)
    assert comp.stop() == []   # a second stop is a no-op


def test_mock_oauth_process_serves_real_tokens(tmp_path: Path) -> None:
    ip, port = free_loopback()
    clients = {"svc": {"secret": "svc-secret-value", "scopes": ["jobs:read"]}}
    with MockOAuthProcess(ip, port, clients, "spark-api", tmp_path / "oauth.log") as oauth:
        assert oauth.issuer == f"http://{ip}:{port}"
        mode = stat.S_IMODE(oauth.clients_file.stat().st_mode)
        assert mode == 0o600, oct(mode)
        token = client_credentials_token(oauth.token_url, "svc", "svc-secret-value", "jobs:read")
        assert token.count(".") == 2                       # a signed JWT
        assert "svc-secret-value" not in oauth.log_tail(200)
    assert not oauth.alive()
