"""A real Spark standalone master and workers as local processes, started by the image's launcher.

Every daemon runs ``images/spark-job/entrypoint.sh ROLE`` configured by environment only, exactly
as in the spark-job image (docs/contracts.md), with what the image's Dockerfile ENV provides
mapped to this host (``spark_image_env``): SPARK_HOME is the machine's stable Spark home
(``simulator.local.cache``: one per Spark build, so the JVM archives are made once per machine,
not once per virtualenv), the job scripts are the repository's ``images/spark-job/jobs`` and the
AppCDS archives the machine's cache, made before the first JVM starts (``cds.ensure_archives``).

Start the master first and the workers once it is ALIVE: started together, a worker sometimes
registers too early and retries 11-14 s later. ``SparkCluster`` does that for a master and N
workers on one random ``127.x.y.0/24`` block (master ``.1``, workers ``.2``, ``.3``...).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulator.local import procs
from simulator.local.base import (ComponentStartError, LocalComponent, Progress, host_env,
                                  http_get, http_json, stderr_progress)
from simulator.local.cache import cds_cache, spark_home
from simulator.local.cds import SPARK_IMAGE, SPARK_JOBS, ensure_archives
from simulator.local.loopback import free_block
from simulator.waiting import wait_for

ENTRYPOINT = SPARK_IMAGE / "entrypoint.sh"
JOBS_DIR = SPARK_JOBS
MASTER_PORT, MASTER_UI_PORT, MASTER_REST_PORT = 7077, 8080, 6066
WORKER_PORT, WORKER_UI_PORT = 7078, 8081
SPARK_HINT = ("is java 17 on PATH (or JAVA_HOME set) and pyspark installed? Is the address "
              "or port taken by another run? Run images/spark-job/entrypoint.sh by hand with "
              "the same environment to see more")


def spark_image_env(home: Path) -> dict[str, str]:
    """What the spark-job image's ENV provides, on this host; ``home`` becomes HOME."""
    return {"SPARK_HOME": str(spark_home()), "PYSPARK_PYTHON": sys.executable,
            "SPARK_JOBS_DIR": str(JOBS_DIR), "SPARK_CDS_DIR": str(cds_cache()),
            "HOME": str(home)}


class SparkDaemon(LocalComponent):
    """A master or worker from ``entrypoint.sh ROLE``; what they share."""

    hint = SPARK_HINT

    def __init__(self, role: str, ip: str, home_dir: Path, settings: Mapping[str, str], *,
                 extra_env: Mapping[str, str] | None, log_path: Path | None,
                 daemon_memory: str, ready_timeout: float, cds_warmup: bool,
                 progress: Progress) -> None:
        self.role, self.ip, self.home_dir = role, ip, Path(home_dir)
        env = host_env()
        env.update(spark_image_env(self.home_dir))
        env.update(POD_IP=ip, SPARK_DAEMON_MEMORY=daemon_memory)
        env.update(settings)
        env.update(extra_env or {})
        # Long grace: a first run of a role writes its CDS archive when it stops (a few seconds).
        super().__init__(f"spark-{role}@{ip}", ["bash", str(ENTRYPOINT), role], env,
                         log_path or self.home_dir / f"{role}.log", cwd=self.home_dir,
                         ready_timeout=ready_timeout, stop_grace=30.0)
        self.cds_warmup = cds_warmup
        self.progress = progress

    @property
    def pod_ip(self) -> str:
        """The daemon's address (``POD_IP``), as on a pod."""
        return self.ip

    def before_start(self) -> None:
        self.home_dir.mkdir(parents=True, exist_ok=True)
        if self.cds_warmup and self.env.get("SPARK_JVM_FAST_START", "true") == "true":
            ensure_archives(Path(self.env["SPARK_CDS_DIR"]), self.env["SPARK_HOME"],
                            self.progress)
        self.progress(f"[spark] starting {self.role} on {self.ip} (log {self.log_path})")


class SparkMaster(SparkDaemon):
    """A standalone master; ready when its ``/json/`` says ALIVE."""

    def __init__(self, ip: str, home_dir: Path, *, port: int = MASTER_PORT,
                 ui_port: int = MASTER_UI_PORT, rest_port: int = MASTER_REST_PORT,
                 extra_env: Mapping[str, str] | None = None, log_path: Path | None = None,
                 daemon_memory: str = "512m", ready_timeout: float = 120.0,
                 cds_warmup: bool = True, progress: Progress = stderr_progress) -> None:
        self.port, self.ui_port, self.rest_port = port, ui_port, rest_port
        super().__init__("master", ip, home_dir, {
            "SPARK_MASTER_PORT": str(port), "SPARK_MASTER_WEBUI_PORT": str(ui_port),
            "SPARK_MASTER_REST_PORT": str(rest_port)}, extra_env=extra_env, log_path=log_path,
            daemon_memory=daemon_memory, ready_timeout=ready_timeout, cds_warmup=cds_warmup,
            progress=progress)

    @property
    def url(self) -> str:
        return f"spark://{self.ip}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.ip}:{self.rest_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.ip}:{self.ui_port}"

    def status(self) -> dict[str, Any]:
        """The master's ``/json/`` document (status, aliveworkers, workers, apps, drivers)."""
        return http_json(f"{self.ui_url}/json/")

    def probe(self) -> tuple[bool, str]:
        status = self.status().get("status")
        return status == "ALIVE", f"master /json/ status {status}"


class SparkWorker(SparkDaemon):
    """A standalone worker; ready when its UI answers (registration: ``SparkCluster``)."""

    def __init__(self, ip: str, home_dir: Path, master_url: str, *, cores: int = 1,
                 memory: str = "512m", port: int = WORKER_PORT, ui_port: int = WORKER_UI_PORT,
                 work_dir: Path | None = None, extra_env: Mapping[str, str] | None = None,
                 log_path: Path | None = None, daemon_memory: str = "512m",
                 ready_timeout: float = 120.0, cds_warmup: bool = True,
                 progress: Progress = stderr_progress) -> None:
        self.master_url, self.port, self.ui_port = master_url, port, ui_port
        self.work_dir = Path(work_dir) if work_dir is not None else Path(home_dir) / "work"
        super().__init__("worker", ip, home_dir, {
            "SPARK_MASTER_URL": master_url, "SPARK_WORKER_CORES": str(cores),
            "SPARK_WORKER_MEMORY": memory, "SPARK_WORKER_PORT": str(port),
            "SPARK_WORKER_WEBUI_PORT": str(ui_port), "SPARK_WORKER_DIR": str(self.work_dir)},
            extra_env=extra_env, log_path=log_path, daemon_memory=daemon_memory,
            ready_timeout=ready_timeout, cds_warmup=cds_warmup, progress=progress)

    @property
    def ui_url(self) -> str:
        return f"http://{self.ip}:{self.ui_port}"

    def probe(self) -> tuple[bool, str]:
        status, _ = http_get(f"{self.ui_url}/json/")
        return status == 200, f"worker UI /json/ {status}"


class SparkCluster:
    """A master and N workers; ``start()`` returns once the master counts N ALIVE workers."""

    def __init__(self, base_dir: Path, workers: int = 1, *, worker_cores: int = 1,
                 worker_memory: str = "1g", daemon_memory: str = "512m",
                 fast_start: bool = True, cds_dir: Path | None = None,
                 ready_timeout: float = 180.0, extra_env: Mapping[str, str] | None = None,
                 cds_warmup: bool = True, progress: Progress = stderr_progress) -> None:
        if workers < 0:
            raise ValueError(f"workers={workers}: must be 0 or more")
        self.base_dir = Path(base_dir)
        self.ready_timeout = ready_timeout
        self.progress = progress
        self.prefix = free_block((MASTER_PORT, MASTER_UI_PORT, MASTER_REST_PORT, WORKER_PORT,
                                  WORKER_UI_PORT), hosts=workers + 1)
        env = {"SPARK_JVM_FAST_START": "true" if fast_start else "false"}
        if cds_dir is not None:
            env["SPARK_CDS_DIR"] = str(cds_dir)
        env.update(extra_env or {})
        common: dict[str, Any] = dict(extra_env=env, daemon_memory=daemon_memory,
                                      ready_timeout=ready_timeout, cds_warmup=cds_warmup,
                                      progress=progress)
        self.master = SparkMaster(self.master_ip, self.base_dir / f"master-{self.master_ip}",
                                  **common)
        self.workers = []
        for n in range(workers):
            ip = f"{self.prefix}.{n + 2}"
            home = self.base_dir / f"worker-{ip}"
            self.workers.append(SparkWorker(ip, home, self.master_url, cores=worker_cores,
                                            memory=worker_memory, work_dir=home / "work",
                                            **common))
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------------ addresses
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
        return [w.work_dir for w in self.workers]

    @property
    def log_paths(self) -> dict[str, Path]:
        return {f"{d.role}@{d.ip}": d.log_path for d in self.daemons}

    @property
    def daemons(self) -> list[SparkDaemon]:
        return [self.master, *self.workers]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SparkCluster:
        """The master, ALIVE; then every worker side by side; then wait until all registered."""
        began = time.monotonic()
        try:
            self.master.start()
            for worker in self.workers:
                worker.launch()
            for worker in self.workers:
                worker.wait_ready(worker.probe, self.ready_timeout)
            self.wait_alive(len(self.workers))
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        self.progress(f"[spark] master {self.master_url} + {len(self.workers)} worker(s) ALIVE "
                      f"in {self.startup_seconds:.1f} s")
        return self

    def status(self) -> dict[str, Any]:
        """The master's ``/json/`` document."""
        return self.master.status()

    def wait_alive(self, workers: int | None = None, timeout: float | None = None
                   ) -> dict[str, Any]:
        """Poll ``/json/`` until the master is ALIVE with exactly ``workers`` alive workers."""
        want = len(self.workers) if workers is None else workers
        timeout = self.ready_timeout if timeout is None else timeout
        seen: dict[str, Any] = {}

        def probe() -> tuple[bool, str]:
            for daemon in self.daemons:
                if daemon.process is not None and daemon.process.poll() is not None:
                    raise self._error(f"{daemon.role} on {daemon.ip} exited with "
                                      f"{daemon.process.returncode}", str(seen or "no answer"))
            seen.clear()
            seen.update(self.status())
            state = {k: seen.get(k) for k in ("status", "aliveworkers")}
            return (seen.get("status") == "ALIVE" and seen.get("aliveworkers") == want,
                    f"master /json/ {state}")

        waited = wait_for(probe, timeout)
        if not waited.ok:
            raise self._error(f"not ready after {timeout:.0f} s (want {want} ALIVE worker(s))",
                              waited.last)
        return dict(seen)

    def _error(self, what: str, last: str) -> ComponentStartError:
        tails = "\n".join(f"--- {name} ({path}) ---\n{procs.tail(path, 30)}"
                          for name, path in self.log_paths.items())
        return ComponentStartError("Spark cluster", what, last=last, log_tail=tails,
                                   hint=SPARK_HINT)

    def stop(self) -> list[str]:
        """Workers first (their drivers and executors die with them), then the master.

        Never raises; returns what could not be stopped."""
        try:  # all workers at once; each daemon's stop() below then only reaps
            left = procs.terminate([w.record for w in self.workers if w.record is not None],
                                   grace=30.0)
        except Exception as exc:
            left = [f"stopping the workers failed: {exc}"]
        for daemon in [*self.workers, self.master]:
            left += daemon.stop()
        return left

    def __enter__(self) -> SparkCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
