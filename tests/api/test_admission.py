"""No deadlock under load (issue 8): with admission control, concurrent submissions on a small
cluster are either accepted with room for their driver AND an executor, or refused with 429 and
Retry-After; resubmitted after it, every job ends FINISHED, none is lost, lists are exact.

Runs its OWN master + 2 workers of 1 core/512m (never the shared session cluster): one job at a
time fits (its driver fills one worker, its executor the other), exactly the shape that
deadlocked before (drivers on every worker, no room for any executor).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .helpers import bearer, job_client, oidc_env, own_cluster

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# 4 at once on 2 workers that hold one job at a time: at least 3 refusals, two owners. The
# issue's 20 on 4 workers is scenarios/faults.yaml's burst (tox -e faults).
SUBMISSIONS = {"alice": 2, "bob": 2}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with own_cluster(tmp_path_factory, "admission-spark", worker_memory="512m",
                     workers=2) as cluster:
        yield cluster


def _submit_until_accepted(url: str, token: str, deadline: float) -> tuple[str, int]:
    """POST until 202, honouring 429 (resubmit shortly); returns (job id, 429s seen)."""
    refused = 0
    with httpx.Client(base_url=url, headers=bearer(token), timeout=60) as client:
        while time.monotonic() < deadline:
            response = client.post("/v1/jobs", json={"job": "pi", "args": {"samples": 1000,
                                                                         "partitions": 1}})
            if response.status_code == 202:
                return response.json()["id"], refused
            assert response.status_code == 429, response.text
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"]["code"] == "cluster_busy"
            refused += 1
            time.sleep(1.0)  # a client may come back sooner than Retry-After; it is a hint
    raise AssertionError("a submission was never accepted")


def test_concurrent_submissions_all_finish(cluster, api_factory, oauth, token) -> None:
    api = api_factory(oidc_env(oauth.issuer, cluster.master_url))
    deadline = time.monotonic() + 600
    callers = [c for c, n in SUBMISSIONS.items() for _ in range(n)]
    with ThreadPoolExecutor(max_workers=len(callers)) as pool:
        results = list(pool.map(lambda c: (c, _submit_until_accepted(api.url, token(c),
                                                                     deadline)), callers))
    refusals = sum(r for _, (_, r) in results)
    print(f"[test] {len(results)} jobs accepted after {refusals} refusal(s) with 429", flush=True)
    assert refusals > 0, "admission control never refused: the cluster cannot hold 4 jobs"
    ids = {c: {job_id for caller, (job_id, _) in results if caller == c} for c in SUBMISSIONS}
    for caller, job_ids in ids.items():
        with job_client(api.url, oauth.token_url, caller, timeout=60) as client:
            for job_id in job_ids:
                final = client.wait(job_id, max(1.0, deadline - time.monotonic()))
                assert final.state == "FINISHED", final
            listed = client.page(limit=100)
            assert {j.id for j in listed.items} == job_ids and not listed.partial


def test_a_job_no_worker_can_hold_is_422(cluster, api_factory, oauth, token) -> None:
    api = api_factory(oidc_env(oauth.issuer, cluster.master_url))
    response = httpx.post(api.url + "/v1/jobs", headers=bearer(token("alice")),
                          json={"job": "pi", "resources": {"driverMemory": "1g"}})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "cluster_too_small" and error["field"] == "resources.driverMemory"
    assert "512m" in error["message"]
