"""Master down -> 503 (submit, reads, /readyz) with a clear message; master back -> the same API
process recovers by itself. Runs its OWN master + worker (never the shared session cluster, which
other tests rely on); the file sorts first in tests/api so the shared cluster is usually not up
yet and the JVM budget (1 master + 2 workers) holds.
"""
from __future__ import annotations

import time

import httpx
import pytest

from spark.cluster import (MASTER_PORT, MASTER_REST_PORT, MASTER_UI_PORT, ClusterConfig,
                           LocalSparkCluster)

from .helpers import bearer, oidc_env

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _restart_master(cluster: LocalSparkCluster) -> None:
    """Stop the master JVM and start a fresh one on the same address (workers keep running)."""
    assert cluster.master is not None
    cluster.master = cluster._launch(  # same arguments as LocalSparkCluster.start()
        "master", cluster.master_ip, MASTER_UI_PORT,
        SPARK_MASTER_PORT=str(MASTER_PORT), SPARK_MASTER_WEBUI_PORT=str(MASTER_UI_PORT),
        SPARK_MASTER_REST_PORT=str(MASTER_REST_PORT))


def test_master_down_then_back(tmp_path, api_factory, oauth, token) -> None:
    cluster = LocalSparkCluster(ClusterConfig(base_dir=tmp_path / "spark", workers=1))
    cluster.start()
    try:
        api = api_factory(oidc_env(oauth.issuer, cluster.master_url))
        client = httpx.Client(base_url=api.url, headers=bearer(token("alice")), timeout=30)
        assert httpx.get(api.url + "/readyz").status_code == 200
        before = client.post("/v1/jobs", json={"job": "sleep", "args": {"seconds": 1}})
        assert before.status_code == 202

        print("[test] stopping the master", flush=True)
        assert cluster.master is not None
        cluster.master.stop()
        for response in (httpx.get(api.url + "/readyz"),
                         client.post("/v1/jobs", json={"job": "pi"}),
                         client.get("/v1/jobs"),
                         client.get(f"/v1/jobs/{before.json()['id']}")):
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "spark_unavailable" and "master" in error["message"].lower()
            assert response.headers["retry-after"]
        # Client mistakes stay client mistakes while the master is down.
        assert client.post("/v1/jobs", json={"job": "nope"}).status_code == 422

        print("[test] starting the master again; waiting for the worker to re-register",
              flush=True)
        _restart_master(cluster)
        cluster.wait_alive(workers=1)
        assert httpx.get(api.url + "/readyz").status_code == 200
        # The new master never heard of the old driver: 404, not 500.
        assert client.get(f"/v1/jobs/{before.json()['id']}").status_code == 404
        after = client.post("/v1/jobs", json={"job": "pi", "args": {"samples": 1000}})
        assert after.status_code == 202, after.text
        job_id = after.json()["id"]
        deadline, state = time.monotonic() + 180, None
        while time.monotonic() < deadline and state not in ("FINISHED", "FAILED", "ERROR"):
            state = client.get(f"/v1/jobs/{job_id}").json()["state"]
            time.sleep(0.5)
        assert state == "FINISHED"
        client.close()
    finally:
        cluster.stop()
