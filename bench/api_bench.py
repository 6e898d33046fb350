"""Job API benchmark, in ONE run against ONE real cluster (master + 1 worker, local processes):

1. end-to-end latency of a trivial catalog job (pi, 1000 samples) through the API: POST /v1/jobs
   -> GET until FINISHED (poll every 100 ms), n=5, driver and executor with C1 JIT;
2. the same job through `spark-submit`. Standalone cluster mode refuses Python applications, so
   the comparable path is CLIENT mode (the driver runs in the spark-submit process on this host)
   with the same script, arguments, memory and JVM flags: it includes a JVM + Python start that
   the API path pays on the worker instead. docs/design.md section 4 measured ~5.1-5.4 s (REST) vs
   ~6.0 s (spark-submit, tuned) before;
3. throughput and p50/p99 of GET /v1/jobs/{id} (bearer JWT validated on every request, one REST
   status call to the master each) with httpx async: 16 concurrent clients, at most 2000
   requests or 20 s, loopback only.

Starts everything with simulator.local (the launchers the tests and the simulator use too), so
the bench runs exactly what the tests run. Everything is stopped by process group at the end.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import record, summary
from simulator.local import JobApi, SparkCluster, free_loopback, spark_home
from simulator.local.spark import JOBS_DIR
from simulator.oauth import MockOAuthServer
from spark_stack_client import Client, client_credentials_token

AUDIENCE = "spark-api"
# The bench's own OAuth clients (in-process mock server; secrets never leave this process).
CLIENTS = {"alice": {"secret": "bench-alice-secret", "scopes": ["jobs:read", "jobs:submit"]}}
OWNER_SECRET = "bench-owner-secret-" + "0123456789abcdef"

RUNS = 5
JOB_ARGS = {"samples": 1000, "partitions": 1}
C1 = "-XX:TieredStopAtLevel=1"
GET_CONCURRENCY, GET_MAX_REQUESTS, GET_MAX_SECONDS = 16, 2000, 20.0


def _api_env(issuer: str, master_url: str) -> dict[str, str]:
    return {"SPARK_API_MASTER_URL": master_url, "SPARK_API_AUTH_MODE": "oidc",
            "SPARK_API_OIDC_ISSUER": issuer, "SPARK_API_OIDC_AUDIENCE": AUDIENCE,
            "SPARK_API_OWNER_SECRET": OWNER_SECRET}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


async def _get_load(url: str, token: str, job_id: str) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + GET_MAX_SECONDS
    remaining = GET_MAX_REQUESTS

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            start = time.perf_counter()
            response = await client.get(f"/v1/jobs/{job_id}")
            latencies.append(time.perf_counter() - start)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    limits = httpx.Limits(max_connections=GET_CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, headers=_bearer(token), limits=limits,
                                 timeout=30) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(GET_CONCURRENCY)))
        wall = time.perf_counter() - began
    ordered = sorted(latencies)
    return {"requests": len(ordered), "seconds": wall, "per_second": len(ordered) / wall,
            "concurrency": GET_CONCURRENCY, "statuses": statuses,
            "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))]}


def main() -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="api-bench-"))
    print(f"[bench api] starting master + 1 worker, mock OAuth and the API (work dir {base})",
          flush=True)
    cluster = SparkCluster(base / "spark", workers=1)
    oauth_ip, _ = free_loopback()
    oauth = MockOAuthServer(oauth_ip, 0, CLIENTS, audience=AUDIENCE)
    api: JobApi | None = None
    try:
        cluster.start()
        running = oauth.start()
        api = JobApi(_api_env(running.issuer, cluster.master_url),
                     log_path=base / "api.log").start()
        with Client(api.url, token_url=running.token_url, client_id="alice",
                    client_secret=CLIENTS["alice"]["secret"]) as client:
            print("[bench api] warm-up job through the API (not counted)", flush=True)
            _, job_id = _through_api(client)
            api_runs = []
            for n in range(RUNS):
                elapsed, job_id = _through_api(client)
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
        print(f"[bench api] GET /v1/jobs/{{id}} load: {GET_CONCURRENCY} clients, "
              f"<= {GET_MAX_REQUESTS} requests or {GET_MAX_SECONDS:.0f} s", flush=True)
        # A token fetched now: the runs above can outlast a token's life (300 s), and the load
        # generator (raw httpx, for throughput) sends it as is, never renewing it.
        token = client_credentials_token(running.token_url, "alice", CLIENTS["alice"]["secret"])
        load = asyncio.run(_get_load(api.url, token, job_id))
    finally:
        if api is not None:
            api.stop()
        oauth.stop()
        cluster.stop()
    api_s, submit_s = summary(api_runs), summary(submit_runs)
    print(f"\n  trivial job (pi, {JOB_ARGS['samples']} samples), submit -> FINISHED, n={RUNS}:")
    print(f"    through the API (REST, cluster mode)  median {api_s['median']:.2f} s  "
          f"min {api_s['min']:.2f}  max {api_s['max']:.2f}")
    print(f"    spark-submit (client mode)            median {submit_s['median']:.2f} s  "
          f"min {submit_s['min']:.2f}  max {submit_s['max']:.2f}")
    print(f"  GET /v1/jobs/{{id}} with JWT validation: {load['per_second']:.0f} req/s, "
          f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms "
          f"({load['requests']} requests, statuses {load['statuses']})")
    payload = {
        "e2e_trivial_job": {"job": "pi", "args": JOB_ARGS, "runs": RUNS,
                            "api_seconds": api_s, "api_samples": api_runs,
                            "spark_submit_client_mode_seconds": submit_s,
                            "spark_submit_samples": submit_runs,
                            "note": "spark-submit refuses Python in standalone cluster mode; "
                                    "client mode is the comparable path (driver on this host)"},
        "get_job_under_load": load,
        "cluster": {"workers": 1, "worker_cores": 1, "worker_memory": "1g",
                    "driver_java_options": C1},
    }
    record("api", payload)
    return payload


if __name__ == "__main__":
    main()
