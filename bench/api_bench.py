"""Job API benchmark, in ONE run against ONE real cluster (master + 1 worker, local processes):

1. end-to-end latency of a trivial catalog job (pi, 1000 samples) through the API: POST /v1/jobs
   -> GET until FINISHED (poll every 100 ms), n=5, driver and executor with C1 JIT;
2. the same job through `spark-submit`. Standalone cluster mode refuses Python applications, so
   the comparable path is CLIENT mode (the driver runs in the spark-submit process on this host)
   with the same script, arguments, memory and JVM flags: it includes a JVM + Python start that
   the API path pays on the worker instead. docs/design.md section 4 measured ~5.1-5.4 s (REST) vs
   ~6.0 s (spark-submit, tuned) before;
3. the status read path, GET /v1/jobs/{id} with 16 clients through the Service proxy beside its
   references (bench/api_read.py says what and how).

``BENCH_API_E2E=0`` skips 1 and 2 (the status read part alone; api.json keeps the e2e numbers of
the last full run).

Starts everything with simulator.local (the launchers the tests and the simulator use too), so
the bench runs exactly what the tests run. Everything is stopped by process group at the end.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import api_read
from bench.common import RESULTS, record, summary
from simulator.local import JobApi, SparkCluster, free_loopback, spark_home
from simulator.local.spark import JOBS_DIR
from simulator.oauth import MockOAuthServer
from spark_stack_client import Client

AUDIENCE = "spark-api"
# The bench's own OAuth clients (in-process mock server; secrets never leave this process).
CLIENTS = {"alice": {"secret": "bench-alice-secret", "scopes": ["jobs:read", "jobs:submit"]}}
OWNER_SECRET = "bench-owner-secret-" + "0123456789abcdef"

RUNS = 5
JOB_ARGS = {"samples": 1000, "partitions": 1}
C1 = "-XX:TieredStopAtLevel=1"


def _api_env(issuer: str, master_url: str) -> dict[str, str]:
    return {"SPARK_API_MASTER_URL": master_url, "SPARK_API_AUTH_MODE": "oidc",
            "SPARK_API_OIDC_ISSUER": issuer, "SPARK_API_OIDC_AUDIENCE": AUDIENCE,
            "SPARK_API_OWNER_SECRET": OWNER_SECRET}


def _through_api(client: Client) -> tuple[float, str]:
    start = time.perf_counter()
    job = client.wait(client.submit("pi", JOB_ARGS).id, timeout=600, interval=0.1)
    elapsed = time.perf_counter() - start
    if job.state != "FINISHED":
        raise RuntimeError(f"bench job {job.id} ended {job.state}")
    return elapsed, job.id


def _through_spark_submit(cluster: SparkCluster, local_ip: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update({"SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": local_ip,
                "PYSPARK_PYTHON": sys.executable, "SPARK_SCALA_VERSION": "2.13"})
    command = [str(spark_home() / "bin" / "spark-submit"), "--master", cluster.master_url,
               "--deploy-mode", "client", "--driver-memory", "512m",
               "--executor-memory", "512m", "--total-executor-cores", "1",
               "--conf", f"spark.driver.extraJavaOptions={C1}",
               "--conf", f"spark.executor.extraJavaOptions={C1}",
               "--conf", "spark.app.name=bench-spark-submit",
               str(JOBS_DIR / "pi.py"), json.dumps(JOB_ARGS)]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                            cwd=tempfile.gettempdir())
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or "Pi is roughly" not in result.stdout:
        raise RuntimeError(f"spark-submit failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed


def _running_job(client: Client) -> str:
    """A job that stays RUNNING while the reads are measured (killed at the end)."""
    job_id = client.submit("sleep", {"seconds": 900}).id
    deadline = time.monotonic() + 120
    # Its Spark session up (the script prints "sleeping"): the driver's start-up, which burns
    # CPU for seconds after RUNNING, is over before anything is measured.
    while "sleeping" not in client.logs(job_id).text:
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench job {job_id} did not start sleeping in 120 s")
        time.sleep(0.5)
    return job_id


def main() -> dict[str, Any]:
    e2e = os.environ.get("BENCH_API_E2E", "1") != "0"
    base = Path(tempfile.mkdtemp(prefix="api-bench-"))
    print(f"[bench api] starting master + 1 worker, mock OAuth and the API (work dir {base})",
          flush=True)
    cluster = SparkCluster(base / "spark", workers=1)
    oauth_ip, _ = free_loopback()
    oauth = MockOAuthServer(oauth_ip, 0, CLIENTS, audience=AUDIENCE)
    apis: list[JobApi] = []
    payload: dict[str, Any] = {}
    try:
        cluster.start()
        running = oauth.start()
        env = _api_env(running.issuer, cluster.master_url)
        api = JobApi(env, log_path=base / "api.log").start()
        apis.append(api)
        with Client(api.url, token_url=running.token_url, client_id="alice",
                    client_secret=CLIENTS["alice"]["secret"]) as client:
            print("[bench api] warm-up job through the API (not counted)", flush=True)
            _, job_id = _through_api(client)
            if e2e:
                payload["e2e_trivial_job"] = _e2e(client, cluster)
            # No owner secret: the API's development key (api_read knows it), one owner.
            noauth_env = {k: v for k, v in env.items() if k != "SPARK_API_OWNER_SECRET"}
            noauth = JobApi({**noauth_env, "SPARK_API_AUTH_MODE": "disabled"},
                            log_path=base / "api-noauth.log", name="api-noauth").start()
            apis.append(noauth)
            workers = JobApi({**env, "SPARK_API_WORKERS": "2"}, log_path=base / "api-2w.log",
                             name="api-2workers").start()
            apis.append(workers)
            print("[bench api] a RUNNING job for the status reads", flush=True)
            running_id = _running_job(client)
            try:
                # Tokens for the load are fetched inside, right before it (the runs above can
                # outlast a token's life, and the raw load generator never renews one).
                payload["status_read"] = api_read.measure(
                    api=api, noauth_api=noauth, workers_api=workers, token_url=running.token_url,
                    client=("alice", CLIENTS["alice"]["secret"]), finished_id=job_id,
                    running_id=running_id, base=base)
            finally:
                client.kill(running_id)
    finally:
        for one in apis:
            one.stop()
        oauth.stop()
        cluster.stop()
    if "e2e_trivial_job" in payload:
        e2e_report(payload["e2e_trivial_job"])
    else:
        previous = RESULTS / "api.json"
        if previous.exists():  # kept from the last full run, with that run's machine and load
            last = json.loads(previous.read_text())
            kept = last.get("e2e_trivial_job")
            if kept is not None:
                kept.setdefault("machine", last.get("machine"))
            payload["e2e_trivial_job"] = kept
    api_read.report(payload["status_read"])
    payload["cluster"] = {"workers": 1, "worker_cores": 1, "worker_memory": "1g",
                          "driver_java_options": C1}
    record("api", payload)
    return payload


def _e2e(client: Client, cluster: SparkCluster) -> dict[str, Any]:
    api_runs = []
    for n in range(RUNS):
        elapsed, _ = _through_api(client)
        api_runs.append(elapsed)
        print(f"[bench api] API submit -> FINISHED run {n + 1}/{RUNS}: {elapsed:.2f} s",
              flush=True)
    submit_runs = []
    local_ip = cluster.master_ip.rsplit(".", 1)[0] + ".9"
    for n in range(RUNS):
        elapsed = _through_spark_submit(cluster, local_ip)
        submit_runs.append(elapsed)
        print(f"[bench api] spark-submit (client mode) run {n + 1}/{RUNS}: {elapsed:.2f} s",
              flush=True)
    return {"job": "pi", "args": JOB_ARGS, "runs": RUNS,
            "api_seconds": summary(api_runs), "api_samples": api_runs,
            "spark_submit_client_mode_seconds": summary(submit_runs),
            "spark_submit_samples": submit_runs,
            "note": "spark-submit refuses Python in standalone cluster mode; "
                    "client mode is the comparable path (driver on this host)"}


def e2e_report(section: dict[str, Any]) -> None:
    api_s, submit_s = section["api_seconds"], section["spark_submit_client_mode_seconds"]
    print(f"\n  trivial job (pi, {JOB_ARGS['samples']} samples), submit -> FINISHED, n={RUNS}:")
    print(f"    through the API (REST, cluster mode)  median {api_s['median']:.2f} s  "
          f"min {api_s['min']:.2f}  max {api_s['max']:.2f}")
    print(f"    spark-submit (client mode)            median {submit_s['median']:.2f} s  "
          f"min {submit_s['min']:.2f}  max {submit_s['max']:.2f}")


if __name__ == "__main__":
    main()
