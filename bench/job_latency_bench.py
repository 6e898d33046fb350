"""Job latency: one trivial job's timeline through the API, side by side with spark-submit.

ONE real cluster (master + 1 worker, 1 core / 1g, simulator.local.SparkCluster: the image's
entrypoint, the machine's AppCDS archives), the mock OAuth server and real signed JWTs. The
catalog's pi job (1000 samples, 1 partition) runs, variants alternating round by round (the order
rotates each round, so load from anything else on the machine hits every variant alike):

- ``api``: POST /v1/jobs to the API with its defaults, then GET /v1/jobs/{id} every 50 ms
  until FINISHED (the fast poll measures the API, not a client's poll interval);
- ``api_<cut>_off``: the same through a second API process with one latency cut turned back off
  by its setting (``CUTS``): what that one cut is worth, measured A/B;
- ``rest`` and ``rest_precompiled_off``: the same job through the master's REST gateway with the
  conf the API sends (``SparkMaster.latency_properties`` included), the second with the job's
  Python pointed at the pyspark zips WITHOUT bytecode (the installed package's own, by
  ``spark.pyspark.python``: a shell wrapper that puts them first on PYTHONPATH), i.e. the
  precompiled-zips cut (images/spark-job/precompile.py) measured A/B;
- ``spark_submit``: ``spark-submit --deploy-mode client`` on the same cluster (standalone cluster
  mode refuses Python), the same script, arguments, memory and cores, and the API's driver and
  executor JVM flags (SPARK_API_DRIVER_JAVA_OPTIONS' default): the peer a user could tune too.
  Its executors run on the same worker, so they get the same JVM flags and archive as the API's.

Every run records a timeline in seconds since submit, each point the first moment it was SEEN
(log files tailed and /json/ polled every 25-50 ms, so a point is late by at most that much):
the master's /json/ (driver launched, app registered, driver ended), the driver's log (its
stderr on the worker, or spark-submit's stderr) and the executor's log (its stderr on the
worker), and the API's answers. Each job's output is checked ("Pi is roughly"), so no cut may
change what a job prints. Results: bench/results/job_latency.json. Aim (issue 13): API submit ->
FINISHED <= 0.5 x spark-submit.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from bench.common import record, summary
from simulator.local import JobApi, SparkCluster, free_loopback, pyspark_dir, spark_home
from simulator.local import submit as rest
from simulator.local.spark import JOBS_DIR
from simulator.oauth import MockOAuthServer
from spark_stack_client import Client

RUNS = int(os.environ.get("BENCH_LATENCY_RUNS", "5"))
JOB_ARGS = {"samples": 1000, "partitions": 1}
AUDIENCE = "spark-api"
CLIENTS = {"bench": {"secret": "bench-latency-secret", "scopes": ["jobs:read", "jobs:submit"]}}
OWNER_SECRET = "bench-latency-owner-" + "0123456789abcdef"
POLL = 0.05
# The API's latency cuts, each a setting: name -> the environment that turns it back off.
CUTS: dict[str, dict[str, str]] = {
    "driver_ui": {"SPARK_API_DRIVER_UI": "true"},
}
# (point, source, pattern): the first line matching marks the point.
DRIVER_MARKS = [
    ("driver_jvm_up", r"Using Spark's default log4j profile"),
    ("context_start", r"SparkContext: Running Spark version"),
    ("driver_ui_up", r"Successfully started service 'SparkUI'"),
    ("app_registered", r"Connected to Spark cluster with app ID"),
    ("executor_added", r"Granted executor ID"),
    ("executor_registered", r"Registered executor"),
    ("job_start", r"SparkContext: Starting job"),
    ("task_start", r"Starting task 0\.0"),
    ("task_end", r"Finished task 0\.0"),
    ("job_end", r"Job 0 finished"),
    ("context_stopped", r"Successfully stopped SparkContext"),
]
EXECUTOR_MARKS = [
    ("executor_jvm_up", r"Using Spark's default log4j profile"),
    ("executor_connected", r"Successfully registered with driver"),
    ("executor_task_start", r"Running task 0\.0"),
]
# The script's first print (images/spark-job/jobs/_jobargs.py): its Python is up, before Spark.
STDOUT_MARKS = [("python_up", r"^job pi: parameters")]
ORDER = ["api_accepted", "driver_launched", "driver_jvm_up", "python_up", "context_start", "driver_ui_up",
         "app_registered", "executor_added", "executor_jvm_up", "executor_connected",
         "executor_registered", "job_start", "task_start", "executor_task_start", "task_end",
         "job_end", "context_stopped", "driver_exited", "api_finished", "total"]


class Timeline:
    """First-seen moments (seconds since ``t0``), written by several watcher threads."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.points: dict[str, float] = {}
        self.lock = threading.Lock()

    def mark(self, point: str) -> None:
        with self.lock:
            self.points.setdefault(point, round(time.perf_counter() - self.t0, 3))

    def lines(self, lines: Iterable[str], marks: list[tuple[str, str]]) -> None:
        for line in lines:
            for point, pattern in marks:
                if point not in self.points and re.search(pattern, line):
                    self.mark(point)


class Watchers:
    """Threads that tail the master's /json/ and the driver's and executor's logs for a run."""

    def __init__(self, cluster: SparkCluster, timeline: Timeline, known: dict[str, set[str]],
                 driver_log: bool) -> None:
        self.cluster, self.timeline, self.known = cluster, timeline, known
        self.driver_id: str | None = None
        self.app_id: str | None = None
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._master, daemon=True),
                        threading.Thread(target=self._executor_log, daemon=True)]
        if driver_log:
            self.threads += [threading.Thread(target=self._driver_log, args=(name, marks),
                                              daemon=True)
                             for name, marks in (("stderr", DRIVER_MARKS),
                                                 ("stdout", STDOUT_MARKS))]
        for thread in self.threads:
            thread.start()

    def _master(self) -> None:
        with httpx.Client(timeout=5) as http:
            while not self.stop.is_set():
                try:
                    seen = http.get(f"{self.cluster.ui_url}/json/").json()
                except (httpx.HTTPError, ValueError):
                    time.sleep(POLL)
                    continue
                for driver in seen.get("activedrivers", []) + seen.get("completeddrivers", []):
                    if driver["id"] not in self.known["drivers"]:
                        self.driver_id = driver["id"]
                        if driver.get("state") != "SUBMITTED":
                            self.timeline.mark("driver_launched")
                for driver in seen.get("completeddrivers", []):
                    if driver["id"] == self.driver_id:
                        self.timeline.mark("driver_exited")
                for app in seen.get("activeapps", []) + seen.get("completedapps", []):
                    if app["id"] not in self.known["apps"]:
                        self.app_id = app["id"]
                time.sleep(POLL)

    def _tail(self, path_of: Callable[[], Path | None], marks: list[tuple[str, str]]) -> None:
        path, offset, rest = None, 0, ""
        while not self.stop.is_set():
            path = path or path_of()
            if path is not None and path.exists():
                with path.open(errors="replace") as fh:
                    fh.seek(offset)
                    text = rest + fh.read()
                    offset = fh.tell()
                *complete, rest = text.split("\n")
                self.timeline.lines(complete, marks)
            time.sleep(POLL / 2)

    def _driver_log(self, name: str, marks: list[tuple[str, str]]) -> None:
        work = self.cluster.work_dirs[0]
        self._tail(lambda: work / self.driver_id / name if self.driver_id else None, marks)

    def _executor_log(self) -> None:
        work = self.cluster.work_dirs[0]
        self._tail(lambda: work / self.app_id / "0" / "stderr" if self.app_id else None,
                   EXECUTOR_MARKS)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        if self.driver_id:
            self.known["drivers"].add(self.driver_id)
        if self.app_id:
            self.known["apps"].add(self.app_id)


def through_api(cluster: SparkCluster, api: Client, known: dict[str, set[str]]
                ) -> dict[str, float]:
    timeline = Timeline()
    watchers = Watchers(cluster, timeline, known, driver_log=True)
    try:
        job_id = api.submit("pi", JOB_ARGS).id
        timeline.mark("api_accepted")
        state = api.wait(job_id, timeout=600, interval=POLL).state
        timeline.mark("api_finished")
        timeline.points["total"] = timeline.points["api_finished"]
        time.sleep(3 * POLL)  # the watchers see the driver's last lines and its end
    finally:
        watchers.close()
    output = api.logs(job_id, stream="stdout").text
    if state != "FINISHED" or "Pi is roughly" not in output:
        raise RuntimeError(f"bench job {job_id} ended {state}; stdout: {output[-500:]!r}")
    return timeline.points


def through_rest(cluster: SparkCluster, properties: dict[str, str], known: dict[str, set[str]]
                 ) -> dict[str, float]:
    """The master's REST gateway, as the API submits (minus the API itself)."""
    body = rest.create_request(cluster.master_url, "pi", JOB_ARGS, "bench-latency-rest",
                               **properties)
    timeline = Timeline()
    watchers = Watchers(cluster, timeline, known, driver_log=True)
    try:
        driver = rest.submit(cluster.rest_url, body)
        while (state := rest.status(cluster.rest_url, driver).get("driverState")) \
                not in rest.TERMINAL:
            time.sleep(POLL)
        timeline.mark("api_finished")
        timeline.points["total"] = timeline.points["api_finished"]
        time.sleep(3 * POLL)
    finally:
        watchers.close()
    output = rest.driver_output(cluster.work_dirs, driver)
    if state != "FINISHED" or "Pi is roughly" not in output:
        raise RuntimeError(f"bench job {driver} ended {state}; stdout: {output[-500:]!r}")
    return timeline.points


def plain_zips_python(base: Path) -> str:
    """A python for ``spark.pyspark.python`` that imports pyspark from the installed package's
    zips (no bytecode in them), as every job did before precompile.py."""
    zips = ":".join(str(p) for p in sorted((pyspark_dir() / "python" / "lib").glob("*.zip")))
    wrapper = base / "python-plain-zips"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{zips}${{PYTHONPATH:+:$PYTHONPATH}}" '
                       f'exec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def through_spark_submit(cluster: SparkCluster, java_options: str, local_ip: str,
                         known: dict[str, set[str]]) -> dict[str, float]:
    """Client mode: the driver is spark-submit's own JVM on this host (at ``local_ip``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update({"SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": local_ip,
                "PYSPARK_PYTHON": sys.executable, "SPARK_SCALA_VERSION": "2.13"})
    command = [str(spark_home() / "bin" / "spark-submit"), "--master", cluster.master_url,
               "--deploy-mode", "client", "--driver-memory", "512m",
               "--executor-memory", "512m", "--executor-cores", "1",
               "--total-executor-cores", "1",
               "--conf", f"spark.driver.extraJavaOptions={java_options}",
               "--conf", f"spark.executor.extraJavaOptions={java_options}",
               "--conf", "spark.app.name=bench-latency-spark-submit",
               str(JOBS_DIR / "pi.py"), json.dumps(JOB_ARGS)]
    timeline = Timeline()
    watchers = Watchers(cluster, timeline, known, driver_log=False)
    try:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=tempfile.gettempdir())
        out: list[str] = []

        def stdout_lines() -> Iterable[str]:
            for line in proc.stdout or ():
                out.append(line)
                yield line

        reader = threading.Thread(target=timeline.lines, args=(stdout_lines(), STDOUT_MARKS),
                                  daemon=True)
        reader.start()
        err: list[str] = []

        def stderr_lines() -> Iterable[str]:
            for line in proc.stderr or ():
                err.append(line)
                yield line

        timeline.lines(stderr_lines(), DRIVER_MARKS)
        code = proc.wait(timeout=300)
        timeline.mark("driver_exited")
        timeline.points["total"] = timeline.points["driver_exited"]
        reader.join(timeout=5)
    finally:
        watchers.close()
    if code != 0 or not any("Pi is roughly" in line for line in out):
        raise RuntimeError(f"spark-submit failed ({code}):\n{''.join(err)[-2000:]}")
    return timeline.points


def _api_env(issuer: str, master_url: str, extra: dict[str, str]) -> dict[str, str]:
    return {"SPARK_API_MASTER_URL": master_url, "SPARK_API_AUTH_MODE": "oidc",
            "SPARK_API_OIDC_ISSUER": issuer, "SPARK_API_OIDC_AUDIENCE": AUDIENCE,
            "SPARK_API_OWNER_SECRET": OWNER_SECRET, **extra}


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    points = {p for run in runs for p in run}
    return {p: round(statistics.median(run[p] for run in runs if p in run), 3)
            for p in ORDER if p in points}


def main() -> dict[str, Any]:
    from spark_api.settings import Settings  # the API's own defaults
    from spark_api.spark import SparkMaster

    java_options = Settings.model_fields["driver_java_options"].default
    api_conf = {**SparkMaster(Settings(master_url="spark://x:7077", auth_mode="disabled"),
                              None).latency_properties,  # type: ignore[arg-type]
                "spark.driver.extraJavaOptions": java_options,
                "spark.executor.extraJavaOptions": java_options}
    base = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    print(f"[bench latency] master + 1 worker, mock OAuth, {1 + len(CUTS)} API process(es); "
          f"work dir {base}", flush=True)
    cluster = SparkCluster(base / "spark", workers=1, worker_memory="1g")
    oauth_ip, _ = free_loopback()
    # one token for the whole bench (a loaded machine can take well over the default 300 s)
    oauth = MockOAuthServer(oauth_ip, 0, CLIENTS, audience=AUDIENCE, token_lifetime=7200)
    apis: dict[str, JobApi] = {}
    clients: dict[str, Client] = {}
    runs: dict[str, list[dict[str, float]]] = {}
    known: dict[str, set[str]] = {"drivers": set(), "apps": set()}
    load_before = os.getloadavg()[0]
    try:
        cluster.start()
        running = oauth.start()
        envs = {"api": {}} | {f"api_{cut}_off": env for cut, env in CUTS.items()}
        for name, extra in envs.items():
            apis[name] = JobApi(_api_env(running.issuer, cluster.master_url, extra),
                                log_path=base / f"{name}.log").start()
            clients[name] = Client(apis[name].url, token_url=running.token_url,
                                   client_id="bench", client_secret=CLIENTS["bench"]["secret"],
                                   timeout=60, trust_env=False)
        local_ip = cluster.master_ip.rsplit(".", 1)[0] + ".9"
        variants: dict[str, Callable[[], dict[str, float]]] = {
            name: (lambda c=client: through_api(cluster, c, known))
            for name, client in clients.items()}
        plain = plain_zips_python(base)
        variants["rest"] = lambda: through_rest(cluster, api_conf, known)
        variants["rest_precompiled_off"] = lambda: through_rest(cluster, {
            **api_conf, "spark.pyspark.python": plain, "spark.pyspark.driver.python": plain},
            known)
        variants["spark_submit"] = lambda: through_spark_submit(cluster, java_options, local_ip,
                                                                known)
        print("[bench latency] warm-up: one job per variant (not counted)", flush=True)
        for run in variants.values():
            run()
        names = list(variants)
        runs = {name: [] for name in names}
        for i in range(RUNS):
            order = names[i % len(names):] + names[:i % len(names)]
            for name in order:
                points = variants[name]()
                runs[name].append(points)
                print(f"[bench latency] run {i + 1}/{RUNS} {name}: {points['total']:.2f} s",
                      flush=True)
    finally:
        for client in clients.values():
            client.close()
        for api in apis.values():
            api.stop()
        oauth.stop()
        cluster.stop()
    shutil.rmtree(base, ignore_errors=True)  # kept only when a run failed (its logs say why)
    totals = {name: summary([r["total"] for r in rs]) for name, rs in runs.items()}
    medians = {name: _medians(rs) for name, rs in runs.items()}
    ratio = totals["api"]["median"] / totals["spark_submit"]["median"]
    cuts = {cut: round(totals[f"api_{cut}_off"]["median"] - totals["api"]["median"], 3)
            for cut in CUTS}
    cuts["precompiled_zips"] = round(totals["rest_precompiled_off"]["median"]
                                     - totals["rest"]["median"], 3)
    print(f"\n  timeline medians (s since submit), n={RUNS}:")
    width = max(len(n) for n in names) + 2
    print(f"    {'point':22}" + "".join(f"{n:>{width}}" for n in names))
    for point in ORDER:
        cells = [medians[n].get(point) for n in names]
        if any(c is not None for c in cells):
            print(f"    {point:22}" + "".join(f"{'' if c is None else c:>{width}}"
                                             for c in cells))
    print(f"  API / spark-submit (median submit -> FINISHED): {ratio:.2f} (aim <= 0.5)")
    for cut, saved in cuts.items():
        print(f"  cut {cut}: median {saved:+.2f} s when turned off")
    payload = {
        "what": "pi (1000 samples, 1 partition) submit -> FINISHED; master + 1 worker "
                "(1 core, 1g), variants alternating (order rotating per round), one warm-up "
                "each; points are first-seen seconds since submit (25-50 ms polling)",
        "java_options": java_options, "runs": RUNS,
        "load_1m_before": round(load_before, 2), "load_1m_after": round(os.getloadavg()[0], 2),
        "cuts_off_env": CUTS,
        "seconds": totals, "timeline_medians": medians, "timelines": runs,
        "ratio_api_to_spark_submit": round(ratio, 3), "aim_ratio": 0.5,
        "cut_saves_median_s": cuts,
    }
    record("job_latency", payload)
    return payload


if __name__ == "__main__":
    main()
