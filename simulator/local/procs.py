"""Detached local processes that can be found and killed again from another simulator process.

Every process the simulator starts gets its own session (process group), so a signal to the
group reaches whatever it spawned too: the Spark worker's drivers and executors, the
entrypoint's supervising shell. A record keeps PID, process group and the start time, and the
start time is checked before any signal: a PID the kernel reused for something else after a
crash is never killed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass
class ProcRecord:
    """What identifies one started process, as stored in run.json."""

    name: str
    pid: int
    pgid: int
    create_time: float
    log: str
    argv: list[str]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping) -> ProcRecord:
        return cls(**data)

    def _started_with_us(self, proc: psutil.Process) -> bool:
        """``proc`` (found by our PID) is the process we started: the same start time."""
        return abs(proc.create_time() - self.create_time) <= 0.05

    def process(self) -> psutil.Process | None:
        """The live process if it is still the one we started (same PID and start time)."""
        try:
            proc = psutil.Process(self.pid)
            if not self._started_with_us(proc):
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def alive(self) -> bool:
        return self.process() is not None

    def _group_id_reused(self) -> bool:
        """A process other than the one we started holds the group's id as its PID."""
        try:
            other = psutil.Process(self.pgid)
            return self.pgid != self.pid or not self._started_with_us(other)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def group_members(self) -> list[psutil.Process]:
        """The leader (if still ours), its descendants, and anything left in its process group.

        Members of the group are trusted only if they started after the leader, and only while
        the group id is still ours: Linux keeps a PID from new processes as long as it names a
        live process group (kernel/pid.c frees a number once no task uses it as PID, PGID or
        SID), so a live process with the leader's PID but another start time means our group
        is gone and the number now names someone else's group. PIDs recycle fast here
        (pid_max 32768, every JVM thread takes one): without that check a late ``down`` of a
        dead pod killed the new session of another run.
        """
        found: dict[int, psutil.Process] = {}
        leader = self.process()
        if leader is not None:
            found[leader.pid] = leader
            try:
                for child in leader.children(recursive=True):
                    found[child.pid] = child
            except psutil.NoSuchProcess:
                pass
        elif self._group_id_reused():
            return []
        for proc in psutil.process_iter(["pid", "create_time"]):
            try:
                if (proc.pid not in found and os.getpgid(proc.pid) == self.pgid
                        and proc.info["create_time"] >= self.create_time - 0.05):
                    found[proc.pid] = proc
            except (ProcessLookupError, psutil.Error, OSError):
                continue
        return [p for p in found.values() if p.pid != os.getpid()]


def launch(name: str, argv: Sequence[str], env: Mapping[str, str], log: Path,
           cwd: Path | None = None) -> tuple[ProcRecord, subprocess.Popen]:
    """Start ``argv`` in a new session, output appended to ``log``; survives our own exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        popen = subprocess.Popen(list(argv), env=dict(env), stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                 start_new_session=True, close_fds=True)
    try:
        create_time = psutil.Process(popen.pid).create_time()
    except psutil.NoSuchProcess:
        create_time = time.time()
    record = ProcRecord(name=name, pid=popen.pid, pgid=popen.pid, create_time=create_time,
                        log=str(log), argv=list(argv))
    return record, popen


def terminate(records: Iterable[ProcRecord], grace: float = 8.0) -> list[str]:
    """SIGTERM every group, wait up to ``grace`` s, SIGKILL what is left; returns leftovers.

    SIGTERM first because the Spark entrypoint writes its CDS archive on a graceful stop.
    """
    members: list[psutil.Process] = []
    for rec in records:
        group = rec.group_members()
        members.extend(group)
        leader_ok = any(p.pid == rec.pid for p in group)
        if leader_ok:
            try:
                os.killpg(rec.pgid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        for proc in group:
            try:
                proc.send_signal(signal.SIGTERM)
            except psutil.Error:
                pass
    _gone, alive = psutil.wait_procs(members, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    _gone, alive = psutil.wait_procs(alive, timeout=5)
    return [f"pid {p.pid}" for p in alive]


def zombie_status(record: ProcRecord) -> int | None:
    """The exit status (as ``waitpid`` reports it) of our process while it is a zombie, i.e. its
    parent has not reaped it yet (``/proc/PID/stat`` field 52, Linux >= 3.5); else None."""
    try:
        proc = psutil.Process(record.pid)
        if proc.status() != psutil.STATUS_ZOMBIE \
                or abs(proc.create_time() - record.create_time) > 0.05:
            return None
        fields = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[49])  # fields after "(comm)" start at field 3
    except (psutil.Error, OSError, IndexError, ValueError):
        return None


def exit_reason(returncode: int | None, *, waitpid_status: bool = False) -> tuple[int | None, str]:
    """(exit code as Kubernetes reports it, a reason): a signal is ``128 + N``, named."""
    if returncode is None:
        return None, "exited (its exit status is not known here: the process was not started " \
                     "by the run's controller)"
    if waitpid_status:
        returncode = -(returncode & 0x7F) if returncode & 0x7F else (returncode >> 8) & 0xFF
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return 128 - returncode, f"killed by {name} (exit code {128 - returncode})"
    return returncode, f"exited with code {returncode}"


def environ_of(record: ProcRecord) -> dict[str, str]:
    """The environment of a live process we started (for exec probes), else empty."""
    proc = record.process()
    try:
        return proc.environ() if proc is not None else {}
    except psutil.Error:
        return {}


def tail(path: str | Path, lines: int = 20) -> str:
    """The last lines of a log, for error messages that show what was seen."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max(16384, 256 * lines)))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


def listening_on(prefix: str) -> list[str]:
    """TCP listeners on addresses starting with ``prefix`` (e.g. ``127.31.7.``)."""
    out = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr \
                and ipv4(conn.laddr.ip).startswith(prefix):
            out.append(f"{ipv4(conn.laddr.ip)}:{conn.laddr.port} (pid {conn.pid})")
    return out


def ipv4(ip: str) -> str:
    """A JVM binds IPv4 addresses as IPv4-mapped IPv6 (``::ffff:127.1.2.3``): unwrap it."""
    return ip[7:] if ip.startswith("::ffff:") else ip
