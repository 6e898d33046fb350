"""Master down -> 503 (submit, reads, /readyz) with a clear message; master back -> the same API
process recovers by itself. Runs its OWN master + worker (never the shared session cluster, which
other tests rely on), so it depends on no other test and on no file order. It used to sort first
only to keep the JVM count low (the session cluster not up yet); if the session cluster runs
alongside, that is two idle daemons more (~155 MB each), well within the machine's limits.
"""
from __future__ import annotations

import httpx
import pytest

from simulator.local import SparkCluster
from spark_stack_client import RetryPolicy

from .helpers import job_client, oidc_env

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_master_down_then_back(tmp_path, api_factory, oauth) -> None:
    with SparkCluster(tmp_path / "spark", workers=1) as cluster:
        api = api_factory(oidc_env(oauth.issuer, cluster.master_url))
        # no retry: the 503s while the master is down are what this test reads
        client = job_client(api.url, oauth.token_url, "alice", retry=RetryPolicy(attempts=1))
        assert httpx.get(api.url + "/readyz").status_code == 200
        before = client.request("POST", "/v1/jobs", json={"job": "sleep", "args": {"seconds": 1}})
        assert before.status_code == 202

        print("[test] stopping the master", flush=True)
        cluster.master.stop()
        for response in (httpx.get(api.url + "/readyz"),
                         client.request("POST", "/v1/jobs", json={"job": "pi"}),
                         client.request("GET", "/v1/jobs"),
                         client.request("GET", f"/v1/jobs/{before.json()['id']}")):
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "spark_unavailable" and "master" in error["message"].lower()
            assert response.headers["retry-after"]
        # Client mistakes stay client mistakes while the master is down.
        assert client.request("POST", "/v1/jobs", json={"job": "nope"}).status_code == 422

        print("[test] starting the master again; waiting for the worker to re-register",
              flush=True)
        cluster.master.start()   # same address and ports, a fresh JVM; the worker stays up
        cluster.wait_alive(workers=1)
        assert httpx.get(api.url + "/readyz").status_code == 200
        # The new master never heard of the old driver: 404, not 500.
        assert client.request("GET", f"/v1/jobs/{before.json()['id']}").status_code == 404
        after = client.submit("pi", {"samples": 1000})
        assert client.wait(after.id, 180, interval=0.5).state == "FINISHED"
        client.close()


def test_ended_job_stays_listed_and_readable_after_a_master_restart(tmp_path, api_factory,
                                                                     oauth) -> None:
    """The master forgets ended drivers when it restarts (with recovery it persists only active
    ones; here without recovery it forgets all): the API remembers the jobs it saw end, so a
    FINISHED job stays listed, readable by id (same state and message) and its logs readable
    from the same worker; a DELETE of it is still 409."""
    with SparkCluster(tmp_path / "spark", workers=1) as cluster:
        api = api_factory(oidc_env(oauth.issuer, cluster.master_url))
        client = job_client(api.url, oauth.token_url, "alice")
        job = client.submit("pi", {"samples": 1000})
        ended = client.wait(job.id, 180, interval=0.5)  # reads by id: the API sees it end
        assert ended.state == "FINISHED"
        before = client.request("GET", f"/v1/jobs/{job.id}").json()
        assert [j["id"] for j in client.request("GET", "/v1/jobs").json()["items"]] == [job.id]
        logs_before = client.request("GET", f"/v1/jobs/{job.id}/logs").json()["text"]
        assert "Pi is roughly" in logs_before

        print("[test] restarting the master (it forgets every driver)", flush=True)
        cluster.master.stop()
        cluster.master.start()
        cluster.wait_alive(workers=1)
        assert cluster.status()["completeddrivers"] == []

        listed = client.request("GET", "/v1/jobs").json()
        assert [j["id"] for j in listed["items"]] == [job.id] and not listed["partial"]
        assert listed["items"][0] == before
        again = client.request("GET", f"/v1/jobs/{job.id}")
        assert again.status_code == 200 and again.json() == before
        logs = client.request("GET", f"/v1/jobs/{job.id}/logs")
        assert logs.status_code == 200 and logs.json()["text"] == logs_before
        killed = client.request("DELETE", f"/v1/jobs/{job.id}")
        assert killed.status_code == 409 and "FINISHED" in killed.json()["error"]["message"]
        # Another owner still cannot see it.
        bob = job_client(api.url, oauth.token_url, "bob")
        assert bob.request("GET", "/v1/jobs").json()["items"] == []
        assert bob.request("GET", f"/v1/jobs/{job.id}").status_code == 404
        bob.close()
        client.close()
