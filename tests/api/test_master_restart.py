"""Master down -> 503 (submit, reads, /readyz) with a clear message; master back -> the same API
process recovers by itself. Runs its OWN master + worker (never the shared session cluster, which
other tests rely on), so it depends on no other test and on no file order. It used to sort first
only to keep the JVM count low (the session cluster not up yet); if the session cluster runs
alongside, that is two idle daemons more (~155 MB each), well within the machine's limits.
"""
from __future__ import annotations

import time

import httpx
import pytest

from simulator.local import SparkCluster

from .helpers import bearer, oidc_env

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_master_down_then_back(tmp_path, api_factory, oauth, token) -> None:
    with SparkCluster(tmp_path / "spark", workers=1) as cluster:
        api = api_factory(oidc_env(oauth.issuer, cluster.master_url))
        client = httpx.Client(base_url=api.url, headers=bearer(token("alice")), timeout=30)
        assert httpx.get(api.url + "/readyz").status_code == 200
        before = client.post("/v1/jobs", json={"job": "sleep", "args": {"seconds": 1}})
        assert before.status_code == 202

        print("[test] stopping the master", flush=True)
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
        cluster.master.start()   # same address and ports, a fresh JVM; the worker stays up
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
