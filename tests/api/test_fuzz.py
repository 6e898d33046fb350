"""The API's contract is what it does: schemathesis (4.x) against the live API's /openapi.json.

A real API process, a real token from the mock OAuth server with every scope, and a real Spark
master with one worker too small for any driver (256m; drivers need 512m), admission control
off: every job the fuzzer submits is accepted by the real master and waits there (SUBMITTED)
without starting a JVM, so the run is cheap and reads, kills and logs meet real Spark answers. All checks, a bounded number
of examples per operation; the run fails on any 5xx or undocumented status. Jobs it submitted
are killed afterwards.

One check is excluded, on purpose: ``use_after_free`` expects a resource to be gone (404) after
its DELETE, but DELETE here KILLS a job, and a killed job stays readable with state KILLED (every
accepted job stays visible to its owner, issue 8), which the schema documents on the operation.

Run by `tox -e fuzz` (the `fuzz` marker).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from simulator.local import SparkCluster

from .helpers import oidc_env, own_cluster

pytestmark = [pytest.mark.fuzz, pytest.mark.spark, pytest.mark.slow]

MAX_EXAMPLES = 40  # per operation and phase: bounded, reproducible with the seed
SEED = 4711


@pytest.fixture(scope="module")
def small_cluster(tmp_path_factory):
    with own_cluster(tmp_path_factory, "fuzz-spark", worker_memory="256m") as cluster:
        yield cluster


def _kill_everything(cluster: SparkCluster) -> list[str]:
    """Kill every driver still active on the master (the fuzzer's jobs) through its gateway."""
    active = [d["id"] for d in httpx.get(cluster.ui_url + "/json/").json()["activedrivers"]]
    for driver_id in active:
        httpx.post(f"{cluster.rest_url}/v1/submissions/kill/{driver_id}", timeout=30)
    return active


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(
        api_factory, oauth, small_cluster, tmp_path) -> None:
    pytest.importorskip("schemathesis", reason="schemathesis is installed by `tox -e fuzz` "
                                               "(extra `fuzz`)")
    # Admission control off: it would (rightly) refuse every job on this tiny worker, and the
    # fuzzer is to meet real submissions; its 429 is documented and tested in test_admission.py.
    api = api_factory(oidc_env(oauth.issuer, small_cluster.master_url,
                               SPARK_API_ADMISSION_CONTROL="false"))
    now = int(time.time())
    minted = httpx.post(oauth.issuer + "/test/mint", json={
        "sub": "fuzzer", "scope": "jobs:read jobs:submit jobs:admin",
        "claims": {"iat": now, "exp": now + 3600}})
    minted.raise_for_status()
    token = minted.json()["access_token"]
    command = [sys.executable, "-m", "schemathesis.cli", "run", api.url + "/openapi.json",
               "--checks", "all", "--exclude-checks", "use_after_free",
               "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
               "--workers", "1", "--request-timeout", "30", "--no-shrink",
               "--header", f"Authorization: Bearer {token}",
               "--report", "junit", "--report-dir", str(tmp_path / "report")]
    print("[fuzz] " + " ".join(c if "Bearer" not in c else "Authorization: Bearer ***"
                                for c in command), flush=True)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900,
                                cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
    finally:
        killed = _kill_everything(small_cluster)
        print(f"[fuzz] killed {len(killed)} job(s) the fuzzer left on the master", flush=True)
    print(result.stdout[-20000:], flush=True)
    print(result.stderr[-5000:], flush=True)
    assert result.returncode == 0, "schemathesis found failures (see the output above)"
    remaining = httpx.get(small_cluster.ui_url + "/json/").json()["activedrivers"]
    assert remaining == [], remaining
