"""Job API benchmark: the status read path, GET /v1/jobs/{id} with 16 clients through the
Service proxy beside its references (bench/api_read.py says what and how), against ONE real
cluster (master + 1 worker, local processes) with one FINISHED and one RUNNING job.

How long a job takes through the API against spark-submit is `python -m bench latency`
(bench/job_latency_bench.py: the timeline, the same JVM flags on both sides).

Starts everything with simulator.local (the launchers the tests and the simulator use too), so
the bench runs exactly what the tests run. Everything is stopped by process group at the end.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import api_read
from bench.common import record
from simulator.local import JobApi, SparkCluster, free_loopback
from simulator.oauth import MockOAuthServer
from spark_stack_client import Client

AUDIENCE = "spark-api"
# The bench's own OAuth clients (in-process mock server; secrets never leave this process).
CLIENTS = {"alice": {"secret": "bench-alice-secret", "scopes": ["jobs:read", "jobs:submit"]}}
OWNER_SECRET = "bench-owner-secret-" + "0123456789abcdef"

JOB_ARGS = {"samples": 1000, "partitions": 1}


def _api_env(issuer: str, master_url: str) -> dict[str, str]:
    return {"SPARK_API_MASTER_URL": master_url, "SPARK_API_AUTH_MODE": "oidc",
            "SPARK_API_OIDC_ISSUER": issuer, "SPARK_API_OIDC_AUDIENCE": AUDIENCE,
            "SPARK_API_OWNER_SECRET": OWNER_SECRET}


def _finished_job(client: Client) -> str:
    """A job FINISHED through the API (also the warm-up of the driver path)."""
    job = client.wait(client.submit("pi", JOB_ARGS).id, timeout=600, interval=0.1)
    if job.state != "FINISHED":
        raise RuntimeError(f"bench job {job.id} ended {job.state}")
    return job.id


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
            print("[bench api] a FINISHED job for the status reads", flush=True)
            job_id = _finished_job(client)
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
    api_read.report(payload["status_read"])
    payload["cluster"] = {"workers": 1, "worker_cores": 1, "worker_memory": "1g"}
    record("api", payload)
    return payload


if __name__ == "__main__":
    main()
