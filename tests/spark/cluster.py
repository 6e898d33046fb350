"""A real Spark standalone master and workers as local processes, started by the image's entrypoint.

Why the entrypoint and not ``spark-class`` directly: the process backend runs exactly that script
(docs/contracts.md), so every test that uses this cluster also exercises the launcher the image
ships. Each daemon gets its own random loopback address (127.x.y.z, x and y in 10..250) so
parallel test runs on the machine never collide on a port, and everything is torn down by
process group (the worker's drivers and executors are in its group too).
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "images" / "spark-job" / "entrypoint.sh"
JOBS_DIR = REPO / "images" / "spark-job" / "jobs"
# CDS archives survive between runs so only the very first run on a machine pays for making them.
DEFAULT_CDS_DIR = Path(os.environ.get(
    "SPARK_STACK_CDS_DIR", Path.home() / ".cache" / "spark-stack" / "cds"))

MASTER_PORT = 7077
MASTER_UI_PORT = 8080
MASTER_REST_PORT = 6066
WORKER_PORT = 7078
WORKER_UI_PORT = 8081


class ClusterStartError(RuntimeError):
    """The cluster did not become ready; the message carries what was seen and the logs' tails."""


def spark_home() -> Path:
    """The installed pyspark package directory: it ships bin/spark-class and the jars."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def random_loopback_prefix(ports: tuple[int, ...] = (MASTER_PORT, MASTER_UI_PORT,
                                                      MASTER_REST_PORT, WORKER_PORT,
                                                      WORKER_UI_PORT)) -> str:
    """``127.x.y`` with x, y in 10..250 whose first few hosts have the daemons' ports free."""
    for _ in range(50):
        prefix = f"127.{random.randint(10, 250)}.{random.randint(10, 250)}"
        if all(_port_free(f"{prefix}.{n}", p) for n in (1, 2, 3) for p in ports):
            return prefix
    raise ClusterStartError("no free 127.x.y.0/24 block found after 50 tries")


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file ('' if it does not exist yet)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def http_json(url: str, timeout: float = 5.0) -> Any:
    """GET a JSON document (the master's /json/ or a REST status) with the standard library."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback only)
        return json.loads(response.read().decode())


@dataclass
class SparkDaemon:
    """One running master or worker: its address, files and process (a process-group leader)."""

    role: str
    pod_ip: str
    home: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    ui_port: int
    work_dir: Path | None = None

    @property
    def ui_url(self) -> str:
        return f"http://{self.pod_ip}:{self.ui_port}"

    def terminate(self) -> None:
        """SIGTERM the whole group: the JVM (and its supervising shell), drivers, executors."""
        _signal_group(self.process.pid, signal.SIGTERM)

    def wait_gone(self, grace: float = 30.0) -> None:
        """Wait for the group to exit, then SIGKILL what is left.

        The grace is long because a first run writes its CDS archive at exit (a few seconds).
        """
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.process.poll() is not None and not _group_alive(self.process.pid):
                return
            time.sleep(0.1)
        print(f"[spark] {self.role} {self.pod_ip} ignored SIGTERM for {grace:.0f} s: SIGKILL",
              file=sys.stderr)
        _signal_group(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, wait, SIGKILL if needed."""
        self.terminate()
        self.wait_gone(grace)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class ClusterConfig:
    """What to start; defaults follow the project's limits (1 core, 512m heaps, <= 2 workers)."""

    base_dir: Path
    workers: int = 1
    worker_cores: int = 1
    worker_memory: str = "1g"
    daemon_memory: str = "512m"
    fast_start: bool = True
    cds_dir: Path = field(default_factory=lambda: DEFAULT_CDS_DIR)
    ready_timeout: float = 180.0
    extra_env: dict[str, str] = field(default_factory=dict)


class LocalSparkCluster:
    """A master and N workers from ``entrypoint.sh``; ``start()`` returns once all are ALIVE."""

    def __init__(self, config: ClusterConfig) -> None:
        if not 1 <= config.workers <= 2:
            raise ValueError(f"workers={config.workers}: tests may start 1 or 2 workers")
        self.config = config
        self.prefix = random_loopback_prefix()
        self.master: SparkDaemon | None = None
        self.workers: list[SparkDaemon] = []
        self.startup_seconds: float | None = None

    # --- addresses -------------------------------------------------------------------------
    @property
    def master_ip(self) -> str:
        return f"{self.prefix}.1"

    @property
    def master_url(self) -> str:
        return f"spark://{self.master_ip}:{MASTER_PORT}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.master_ip}:{MASTER_REST_PORT}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.master_ip}:{MASTER_UI_PORT}"

    @property
    def worker_ui_urls(self) -> list[str]:
        return [w.ui_url for w in self.workers]

    @property
    def work_dirs(self) -> list[Path]:
        return [w.work_dir for w in self.workers if w.work_dir is not None]

    @property
    def log_paths(self) -> dict[str, Path]:
        daemons = ([self.master] if self.master else []) + self.workers
        return {f"{d.role}@{d.pod_ip}": d.log_path for d in daemons}

    # --- lifecycle -------------------------------------------------------------------------
    def _env(self, pod_ip: str, home: Path, **settings: str) -> dict[str, str]:
        # Nothing SPARK_* leaks in from the caller's environment: the contract's variables only.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SPARK_", "PYSPARK_"))}
        env.update({
            "HOME": str(home),
            "POD_IP": pod_ip,
            "SPARK_HOME": str(spark_home()),
            "SPARK_DAEMON_MEMORY": self.config.daemon_memory,
            "SPARK_JVM_FAST_START": "true" if self.config.fast_start else "false",
            "SPARK_CDS_DIR": str(self.config.cds_dir),
            "SPARK_JOBS_DIR": str(JOBS_DIR),
            # Drivers run the job scripts with this interpreter (the one that has pyspark).
            "PYSPARK_PYTHON": sys.executable,
        })
        env.update(settings)
        env.update(self.config.extra_env)
        return env

    def _launch(self, role: str, pod_ip: str, ui_port: int, **settings: str) -> SparkDaemon:
        home = self.config.base_dir / f"{role}-{pod_ip}"
        home.mkdir(parents=True, exist_ok=True)
        log_path = home / f"{role}.log"
        env = self._env(pod_ip, home, **settings)
        print(f"[spark] starting {role} on {pod_ip} (log {log_path})", flush=True)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(ENTRYPOINT), role], env=env, cwd=home, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        work_dir = Path(settings["SPARK_WORKER_DIR"]) if "SPARK_WORKER_DIR" in settings else None
        return SparkDaemon(role, pod_ip, home, log_path, process, ui_port, work_dir)

    def start(self) -> LocalSparkCluster:
        """Start the master, wait for ALIVE, then the workers, and wait until all registered.

        Workers start only after the master is ALIVE: started together, a worker sometimes
        registers too early and retries 11-14 s later (DESIGN section 4).
        """
        began = time.monotonic()
        try:
            self.master = self._launch(
                "master", self.master_ip, MASTER_UI_PORT,
                SPARK_MASTER_PORT=str(MASTER_PORT), SPARK_MASTER_WEBUI_PORT=str(MASTER_UI_PORT),
                SPARK_MASTER_REST_PORT=str(MASTER_REST_PORT))
            self.wait_alive(workers=0)
            for n in range(self.config.workers):
                ip = f"{self.prefix}.{n + 2}"
                work_dir = self.config.base_dir / f"worker-{ip}" / "work"
                self.workers.append(self._launch(
                    "worker", ip, WORKER_UI_PORT,
                    SPARK_MASTER_URL=self.master_url,
                    SPARK_WORKER_CORES=str(self.config.worker_cores),
                    SPARK_WORKER_MEMORY=self.config.worker_memory,
                    SPARK_WORKER_PORT=str(WORKER_PORT),
                    SPARK_WORKER_WEBUI_PORT=str(WORKER_UI_PORT),
                    SPARK_WORKER_DIR=str(work_dir)))
            self.wait_alive(workers=self.config.workers)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        print(f"[spark] master {self.master_url} + {self.config.workers} worker(s) ALIVE in "
              f"{self.startup_seconds:.1f} s", flush=True)
        return self

    def status(self) -> dict[str, Any]:
        """The master's ``/json/`` document."""
        return http_json(f"{self.ui_url}/json/")

    def wait_alive(self, workers: int, timeout: float | None = None) -> dict[str, Any]:
        """Poll ``/json/`` until the master is ALIVE with exactly ``workers`` alive workers."""
        timeout = self.config.ready_timeout if timeout is None else timeout
        print(f"[spark] waiting up to {timeout:.0f} s for master ALIVE with {workers} "
              f"alive worker(s)", flush=True)
        deadline = time.monotonic() + timeout
        seen: Any = "no answer yet"
        while time.monotonic() < deadline:
            for daemon in ([self.master] if self.master else []) + self.workers:
                if daemon.process.poll() is not None:
                    raise ClusterStartError(self._report(
                        f"{daemon.role} on {daemon.pod_ip} exited with "
                        f"{daemon.process.returncode}", seen))
            try:
                seen = self.status()
                if seen.get("status") == "ALIVE" and seen.get("aliveworkers") == workers:
                    return seen
            except (urllib.error.URLError, OSError, ValueError) as exc:
                seen = repr(exc)
            time.sleep(0.2)
        raise ClusterStartError(self._report(f"not ready after {timeout:.0f} s", seen))

    def _report(self, what: str, seen: Any) -> str:
        if isinstance(seen, dict):
            seen = {k: seen.get(k) for k in ("status", "aliveworkers", "workers")}
        parts = [f"Spark cluster {what}; last /json/: {seen}"]
        for name, path in self.log_paths.items():
            parts.append(f"--- {name} ({path}) last lines ---\n{tail(path)}")
        parts.append("hint: is java 17 on PATH and pyspark importable? "
                     "Run images/spark-job/entrypoint.sh by hand with the env above.")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop workers first (their drivers die with them), then the master. Never raises."""
        for group in (self.workers, [self.master] if self.master else []):
            for daemon in group:
                daemon.terminate()
            for daemon in group:
                try:
                    daemon.wait_gone()
                except Exception as exc:  # teardown must go on with the others
                    print(f"[spark] stopping {daemon.role} {daemon.pod_ip} failed: {exc}",
                          file=sys.stderr)

    def __enter__(self) -> LocalSparkCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
