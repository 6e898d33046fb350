"""Honest job states when a worker dies (issue 8), against a REAL master and two REAL workers.

- a worker SIGKILLed (its whole process group: the worker and the driver it hosts, as when a pod
  is killed) while running a job's driver: the job ends ERROR with a message naming the worker
  and its host, stays in its owner's list (on the replica that knew it, and on a cold replica
  once the worker is started again at the same address), and its logs answer 410 ``logs_gone``
  naming the worker, then 200 again from the restarted worker;
- a job killed before its driver was launched is listed with its message;
- ``supervise: true``: the master relaunches the driver on the other worker as a new driver,
  listed for its owner under a new job id, while the old id says what happened.

Runs its OWN master + 2 workers (1 core, 1g each: one driver + one executor), never the shared
session cluster, since it kills workers.
"""
from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from spark_stack_client import TERMINAL, Client, Job

from .helpers import bearer, job_client, oidc_env, own_cluster

pytestmark = [pytest.mark.spark, pytest.mark.slow]



@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with own_cluster(tmp_path_factory, "worker-loss", worker_memory="1g", workers=2) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def facts_file(tmp_path_factory):
    return tmp_path_factory.mktemp("api-pod-tmp") / "spark-api-owner-facts"


@pytest.fixture(scope="module")
def api(cluster, api_factory, oauth, facts_file):
    # Admission off: the never-launched job must be accepted to wait (2g on 1g workers).
    return api_factory(oidc_env(oauth.issuer, cluster.master_url,
                                SPARK_API_ALLOW_SUPERVISE="true",
                                SPARK_API_MAX_DRIVER_MEMORY="2g",
                                SPARK_API_ADMISSION_CONTROL="false",
                                SPARK_API_OWNER_FACTS_FILE=str(facts_file)))


@pytest.fixture(scope="module")
def alice(api, token):
    with httpx.Client(base_url=api.url, headers=bearer(token("alice")), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def alice_api(api, oauth):
    """alice through the job API client (``alice`` is raw httpx, for statuses and bodies)."""
    with job_client(api.url, oauth.token_url, "alice") as client:
        yield client


def poll(client: Client, job_id: str, until: set[str] = TERMINAL, timeout: float = 180) -> Job:
    """The job once in a state of ``until`` (or ended); fail with the last seen."""
    print(f"[test] waiting up to {timeout:.0f} s for {job_id}: {sorted(until)}", flush=True)
    job = client.wait(job_id, timeout, interval=0.5, until=until)
    assert job.state in until, f"{job_id}: not {sorted(until)}; last seen {job}"
    return job


def listed(client: httpx.Client) -> dict[str, dict]:
    page = client.get("/v1/jobs", params={"limit": 100})
    assert page.status_code == 200, page.text
    return {job["id"]: job for job in page.json()["items"]}


def hosting_worker(cluster, driver_id: str):
    """The SparkWorker daemon whose worker runs ``driver_id`` (and the master's worker id)."""
    for driver in cluster.status()["activedrivers"]:
        if driver["id"] == driver_id:
            worker_id = driver["worker"]
            for worker in cluster.workers:
                if f"-{worker.ip}-" in worker_id:
                    return worker, worker_id
    raise AssertionError(f"{driver_id} is not running on any worker: {cluster.status()}")


def sigkill(worker) -> None:
    """SIGKILL the worker's process group (the worker JVM and the drivers it launched)."""
    print(f"[test] SIGKILL worker {worker.ip} (process group {worker.record.pgid})", flush=True)
    os.killpg(worker.record.pgid, signal.SIGKILL)
    worker.process.wait(timeout=30)


def test_a_lost_worker_is_named_and_the_job_stays_listed(cluster, api, alice, alice_api,
                                                         api_factory, oauth, token) -> None:
    submitted = alice.post("/v1/jobs", json={"job": "sleep", "args": {"seconds": 300}})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    driver_id = submitted.json()["driverId"]
    poll(alice_api, job_id, {"RUNNING"})
    # A second replica lists the job while its worker is alive (it learns the owner then).
    other = api_factory(oidc_env(oauth.issuer, cluster.master_url))
    with httpx.Client(base_url=other.url, headers=bearer(token("alice")), timeout=30) as early:
        assert job_id in listed(early)

        worker, worker_id = hosting_worker(cluster, driver_id)
        sigkill(worker)
        job = poll(alice_api, job_id)
        lost = f"worker {worker_id} ({worker.ip}) was lost while running the driver"
        assert job.state == "ERROR" and job.sparkState == "ERROR", job
        assert job.message == lost, job

        # Still listed for its owner (both replicas), with the same message; admin too.
        for client in (alice, early):
            mine = listed(client)
            assert job_id in mine and mine[job_id]["message"] == lost, mine.get(job_id)
        with httpx.Client(base_url=api.url, headers=bearer(token("root")), timeout=30) as root:
            assert job_id in listed(root)

        # The logs were on the dead worker: 410 naming it, not a 503 blaming the master.
        gone = alice.get(f"/v1/jobs/{job_id}/logs")
        assert gone.status_code == 410, gone.text
        error = gone.json()["error"]
        assert error["code"] == "logs_gone" and worker_id in error["message"], error
        assert "master" not in error["message"]
        # Ended: DELETE is 409 naming the state and why.
        conflict = alice.delete(f"/v1/jobs/{job_id}")
        assert conflict.status_code == 409, conflict.text
        assert "ERROR" in conflict.json()["error"]["message"]
        assert lost in conflict.json()["error"]["message"]

    # The worker starts again at the same address (a restarted container, same work dir): a
    # COLD replica lists the job (its owner read from the log there) and the logs are back.
    print(f"[test] starting worker {worker.ip} again", flush=True)
    worker.start()
    cluster.wait_alive(2)
    cold = api_factory(oidc_env(oauth.issuer, cluster.master_url))
    with httpx.Client(base_url=cold.url, headers=bearer(token("alice")), timeout=30) as client:
        mine = listed(client)
        assert job_id in mine, mine
        assert mine[job_id]["state"] == "ERROR" and worker_id in mine[job_id]["message"]
        stderr = client.get(f"/v1/jobs/{job_id}/logs", params={"stream": "stderr"})
        assert stderr.status_code == 200 and "Launch Command" in stderr.json()["text"]


def test_killed_before_launch_is_listed_with_its_message(cluster, api, alice, token, api_factory,
                                                        oauth, facts_file) -> None:
    """A driver no worker can hold (2g on 1g workers) waits; killed, it never ran anywhere.
    Listed by the replica that accepted it, and by a new API process on the same pod disk
    (a restarted container, or another server process of the replica)."""
    submitted = alice.post("/v1/jobs", json={"job": "pi", "resources": {"driverMemory": "2g"}})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    waiting = listed(alice)[job_id]
    assert waiting["state"] == "SUBMITTED" and "waiting for a worker" in waiting["message"]
    assert alice.get(f"/v1/jobs/{job_id}/logs").json()["text"] == ""
    killed = alice.delete(f"/v1/jobs/{job_id}")
    assert killed.status_code == 200 and killed.json()["state"] == "KILLED", killed.text
    assert killed.json()["message"] == "killed before its driver was launched"
    mine = listed(alice)
    assert job_id in mine and mine[job_id]["state"] == "KILLED", mine.get(job_id)
    assert mine[job_id]["message"] == "killed before its driver was launched"
    with httpx.Client(base_url=str(alice.base_url), headers=bearer(token("root")),
                      timeout=30) as root:
        assert job_id in listed(root)
    bob = httpx.get(str(alice.base_url) + "/v1/jobs", headers=bearer(token("bob")), timeout=30)
    assert job_id not in {j["id"] for j in bob.json()["items"]}

    restarted = api_factory(oidc_env(oauth.issuer, cluster.master_url,
                                     SPARK_API_OWNER_FACTS_FILE=str(facts_file)))
    with httpx.Client(base_url=restarted.url, headers=bearer(token("alice")),
                      timeout=30) as client:
        mine = listed(client)
        assert job_id in mine and mine[job_id]["message"] == killed.json()["message"], mine


def test_supervise_relaunches_the_driver_on_another_worker(cluster, alice, alice_api) -> None:
    cluster.wait_alive(2)
    submitted = alice.post("/v1/jobs", json={"job": "sleep", "args": {"seconds": 20},
                                             "supervise": True})
    assert submitted.status_code == 202, submitted.text
    job_id, driver_id = submitted.json()["id"], submitted.json()["driverId"]
    poll(alice_api, job_id, {"RUNNING"})
    before = set(listed(alice))
    worker, worker_id = hosting_worker(cluster, driver_id)
    sigkill(worker)
    try:
        ended = poll(alice_api, job_id)
        assert ended.state == "ERROR" and ended.sparkState == "RELAUNCHING", ended
        assert worker_id in ended.message and "relaunched" in ended.message, ended

        print("[test] waiting for the relaunched driver in alice's list", flush=True)
        deadline, new = time.monotonic() + 120, []
        while time.monotonic() < deadline and not new:
            new = [j for i, j in listed(alice).items() if i not in before and j["job"] == "sleep"]
            time.sleep(1)
        assert len(new) == 1, f"no relaunched job listed: {listed(alice)}"
        assert new[0]["driverId"] > driver_id
        # The old id names the new one (the only newer driver of the same job and owner).
        old = alice.get(f"/v1/jobs/{job_id}").json()
        assert f"relaunched the job (supervise) as job {new[0]['id']}" in old["message"], old
        done = poll(alice_api, new[0]["id"])
        assert done.state == "FINISHED", done
    finally:
        worker.start()  # leave the cluster whole for whatever runs next
