"""End to end against a REAL Spark master + worker (the session `spark_cluster`), the REAL mock
OAuth server and TWO real API processes (replicas): submit through one, read and kill through
the other. Jobs run one at a time: the shared worker has 1 core and 1g (driver 512m + executor
512m), so concurrent jobs would only queue.
"""
from __future__ import annotations

import httpx
import pytest

from spark_stack_client import TERMINAL, Client, Conflict, Job

from .helpers import job_client, oidc_env

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def replicas(api_factory, oauth, spark_cluster):
    env = oidc_env(oauth.issuer, spark_cluster.master_url)
    return api_factory(env), api_factory(env)


@pytest.fixture(scope="module")
def clients(replicas, oauth):
    """(replica, caller) -> the job API client of that caller (real tokens, client credentials);
    ``request`` gives the raw answer where a status or header is what is checked."""
    made = {(n, caller): job_client(api.url, oauth.token_url, caller)
            for n, api in enumerate(replicas) for caller in ("alice", "bob", "root", "reader")}
    yield made
    for client in made.values():
        client.close()


def wait_for(client: Client, job_id: str, states: set[str], timeout: float = 180) -> Job:
    """The job once in one of ``states`` (or ended); fail loudly with the last seen."""
    print(f"[test] waiting up to {timeout:.0f} s for {job_id} to reach {sorted(states)}",
          flush=True)
    job = client.wait(job_id, timeout, interval=0.5, until=states)
    assert job.state in states, f"{job_id} did not reach {states}; last seen {job}"
    return job


def submit(client: Client, job: str, **args) -> dict:
    response = client.request("POST", "/v1/jobs", json={"job": job, "args": args})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["state"] == "SUBMITTED" and body["job"] == job
    assert body["links"]["self"].endswith(body["id"]) and body["links"]["logs"].endswith("/logs")
    assert response.headers["location"] == body["links"]["self"]
    return body


def logs(client: Client, job_id: str, stream: str = "stdout") -> str:
    return client.logs(job_id, stream=stream).text


def ids(client: Client) -> set[str]:
    return {j.id for j in client.page(limit=100).items}


@pytest.fixture(scope="module")
def ran(clients):
    """pi by alice and fail by bob, each submitted via replica 0 and followed via replica 1."""
    pi = submit(clients[(0, "alice")], "pi", samples=20000, partitions=2)
    pi_done = wait_for(clients[(1, "alice")], pi["id"], TERMINAL)
    fail = submit(clients[(0, "bob")], "fail", message="boom-4711")
    fail_done = wait_for(clients[(1, "bob")], fail["id"], TERMINAL)
    return {"pi": pi_done, "fail": fail_done}


def test_ready_with_a_live_master(replicas) -> None:
    for api in replicas:
        response = httpx.get(api.url + "/readyz")
        assert response.status_code == 200 and response.json()["aliveWorkers"] == 1


def test_pi_finishes_with_its_output_in_the_logs(ran, clients) -> None:
    assert ran["pi"].state == "FINISHED", ran["pi"]
    text = logs(clients[(0, "alice")], ran["pi"].id)
    assert "Pi is roughly 3." in text


def test_jobs_start_without_the_driver_ui_by_default(ran, clients) -> None:
    """SPARK_API_DRIVER_UI defaults to off: the driver's launch carries spark.ui.enabled=false
    and it never starts Jetty (a latency cut; the job's output is unchanged, see above)."""
    stderr = logs(clients[(0, "alice")], ran["pi"].id, stream="stderr")
    assert "-Dspark.ui.enabled=false" in stderr.split("\n", 1)[0]  # the worker's Launch Command
    assert "SparkContext: Running Spark version" in stderr
    assert "Successfully started service 'SparkUI'" not in stderr


def test_fail_is_failed_with_the_error_in_the_logs(ran, clients) -> None:
    assert ran["fail"].state == "FAILED", ran["fail"]
    assert "boom-4711" in logs(clients[(0, "bob")], ran["fail"].id)


def test_logs_are_bounded_and_paged(ran, clients) -> None:
    client = clients[(1, "alice")]
    job_id = ran["pi"].id
    first = client.logs(job_id, offset=0, length=10)
    assert first.length == 10 and len(first.text) == 10 and first.total > 10
    second = client.logs(job_id, offset=first.nextOffset, length=10)
    whole = logs(client, job_id)
    assert whole.startswith(first.text + second.text)
    assert "Launch Command" in logs(client, job_id, "stderr")
    bad = client.request("GET", f"/v1/jobs/{job_id}/logs", params={"stream": "syslog"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "stream"


def test_callers_cannot_see_each_others_jobs(ran, clients) -> None:
    pi_id, fail_id = ran["pi"].id, ran["fail"].id
    for replica in (0, 1):
        alice, bob = clients[(replica, "alice")], clients[(replica, "bob")]
        alice_ids, bob_ids = ids(alice), ids(bob)
        assert pi_id in alice_ids and fail_id not in alice_ids
        assert fail_id in bob_ids and pi_id not in bob_ids
        for path in (f"/v1/jobs/{fail_id}", f"/v1/jobs/{fail_id}/logs"):
            response = alice.request("GET", path)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        assert bob.request("DELETE", f"/v1/jobs/{pi_id}").status_code == 404
        # A forged id: alice's driver with bob's mac, or a different job name, is nobody's.
        driver, job, mac = pi_id.split(".")
        forged = (f"{driver}.{job}.{fail_id.split('.')[2]}", f"{driver}.fail.{mac}")
        assert bob.request("GET", f"/v1/jobs/{forged[0]}").status_code == 404
        assert alice.request("GET", f"/v1/jobs/{forged[1]}").status_code == 404


def test_admin_sees_every_job(ran, clients) -> None:
    root = clients[(1, "root")]
    assert {ran["pi"].id, ran["fail"].id} <= ids(root)
    assert root.get(ran["fail"].id).state == "FAILED"
    assert "boom-4711" in logs(root, ran["fail"].id)


def test_list_pages(ran, clients) -> None:
    root = clients[(0, "root")]
    first = root.page(limit=1)
    assert len(first.items) == 1 and first.nextOffset == 1
    second = root.page(offset=1, limit=1)
    assert second.items[0].id != first.items[0].id


def test_reader_cannot_submit_or_kill(ran, clients) -> None:
    reader = clients[(0, "reader")]
    assert reader.request("POST", "/v1/jobs", json={"job": "pi"}).status_code == 403
    assert reader.request("DELETE", f"/v1/jobs/{ran['pi'].id}").status_code == 403


def test_kill_a_sleeping_job_through_the_other_replica(ran, clients) -> None:
    job = submit(clients[(0, "alice")], "sleep", seconds=600)
    wait_for(clients[(1, "alice")], job["id"], {"RUNNING"})
    assert clients[(1, "alice")].kill(job["id"]).state == "KILLED"
    assert clients[(0, "alice")].get(job["id"]).state == "KILLED"
    with pytest.raises(Conflict) as again:
        clients[(0, "alice")].kill(job["id"])
    assert (again.value.status, again.value.code) == (409, "already_finished")


def test_metrics_count_submissions(ran, replicas) -> None:
    text = httpx.get(replicas[0].metrics_url).text
    assert 'spark_api_submissions_total{outcome="accepted"}' in text
