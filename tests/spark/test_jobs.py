"""Every catalog job, submitted through the real REST gateway to the real master and worker.

The outcome comes from the driver state (an app shows FINISHED even when its driver failed) and
the job's output from ``<work dir>/<driver id>/stdout``, exactly where the job API reads it.
"""
from __future__ import annotations

import ipaddress
import json
import re
import uuid
from pathlib import Path

import psutil
import pytest

from simulator.local import submit

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def run_job(cluster, job: str, params: dict, **properties: str) -> tuple[str, dict, str, str]:
    """Submit, wait for a terminal state; returns (driver id, final status, app name, stdout)."""
    app_name = f"{job}-{uuid.uuid4().hex[:12]}"
    body = submit.create_request(cluster.master_url, job, params, app_name, **properties)
    driver_id = submit.submit(cluster.rest_url, body)
    final = submit.wait_state(cluster.rest_url, driver_id)
    return driver_id, final, app_name, submit.driver_output(cluster.work_dirs, driver_id)


def assert_finished(driver_id: str, final: dict, stdout: str, cluster) -> None:
    if final["driverState"] != "FINISHED":
        stderr = submit.driver_output(cluster.work_dirs, driver_id, "stderr")
        pytest.fail(f"{driver_id} ended {final}\n--- stdout ---\n{stdout[-3000:]}"
                    f"\n--- stderr ---\n{stderr[-3000:]}")


def test_pi_prints_an_estimate_and_keeps_the_app_name(spark_cluster) -> None:
    driver_id, final, app_name, stdout = run_job(spark_cluster, "pi", {"samples": 20000})
    assert_finished(driver_id, final, stdout, spark_cluster)
    match = re.search(r"^Pi is roughly (\d+\.\d+)$", stdout, re.MULTILINE)
    assert match, stdout[-2000:]
    assert 2.9 < float(match.group(1)) < 3.4
    # The script must not rename the session: the API finds its app by this unique name.
    apps = spark_cluster.status()["completedapps"] + spark_cluster.status()["activeapps"]
    assert app_name in {app["name"] for app in apps}


def test_wordcount_counts_words(spark_cluster) -> None:
    text = "Spark spark SPARK job\njob api\n\nthe end's end"
    driver_id, final, _, stdout = run_job(spark_cluster, "wordcount", {"text": text, "top": 3})
    assert_finished(driver_id, final, stdout, spark_cluster)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, stdout[-2000:]
    result = json.loads(lines[-1])
    assert result["total"] == 9
    assert result["distinct"] == 6
    assert result["top"] == [{"word": "spark", "count": 3}, {"word": "job", "count": 2},
                             {"word": "api", "count": 1}]


def test_sql_aggregate_prints_the_grouped_table(spark_cluster) -> None:
    driver_id, final, _, stdout = run_job(spark_cluster, "sql_aggregate",
                                          {"rows": 100, "groups": 4})
    assert_finished(driver_id, final, stdout, spark_cluster)
    rows = re.findall(r"^\|(\d+)\s*\|(\d+)\s*\|(\d+)\s*\|([\d.]+)\s*\|$", stdout, re.MULTILINE)
    # id % 4 == g for 25 ids each: g, g+4, ..., g+96 -> sum 25*g + 4*300, mean sum/25.
    expected = [(str(g), "25", str(25 * g + 1200), f"{(25 * g + 1200) / 25}") for g in range(4)]
    assert [(g, n, s, str(float(m))) for g, n, s, m in rows] == expected, stdout[-2000:]


def test_fail_ends_failed_with_its_message_in_stdout(spark_cluster) -> None:
    token = uuid.uuid4().hex[:8]
    driver_id, final, _, stdout = run_job(spark_cluster, "fail", {"message": f"boom {token}"})
    assert final["driverState"] == "FAILED", final
    assert f"JobFailed: fail job: boom {token}" in stdout, stdout[-3000:]


def test_bad_parameters_fail_with_a_message_naming_the_field(spark_cluster) -> None:
    # The API validates first; the script checks again because the gateway has no auth.
    driver_id, final, _, stdout = run_job(spark_cluster, "pi", {"samples": 0})
    assert final["driverState"] == "FAILED", final
    assert "parameter 'samples'=0 is below the minimum 1" in stdout, stdout[-3000:]


def _job_processes(work_dir: Path, driver_id: str) -> list[psutil.Process]:
    """The driver JVM (its cwd is <work dir>/<driver id>) and all its children."""
    target = (work_dir / driver_id).resolve()
    for proc in psutil.process_iter(["cwd"]):
        if proc.info["cwd"] and Path(proc.info["cwd"]).resolve() == target:
            return [proc, *proc.children(recursive=True)]
    return []


def _plain(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 address even when the JVM listens on an IPv4-mapped IPv6 socket."""
    addr = ipaddress.ip_address(ip.split("%")[0])
    return addr.ipv4_mapped if addr.version == 6 and addr.ipv4_mapped else addr


def _wait_for_stdout(cluster, driver_id: str, needle: str, timeout: float = 300.0) -> str:
    import time

    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = submit.driver_output(cluster.work_dirs, driver_id)
        except FileNotFoundError:
            text = ""
        if needle in text:
            return text
        state = submit.status(cluster.rest_url, driver_id).get("driverState")
        assert state not in submit.TERMINAL, f"{driver_id} ended {state}: {text[-2000:]}"
        time.sleep(0.5)
    raise TimeoutError(f"'{needle}' not in {driver_id}'s stdout after {timeout:.0f} s: "
                       f"{text[-2000:]}")


def test_sleep_binds_to_the_pod_ip_and_is_killed(spark_cluster) -> None:
    app_name = f"sleep-{uuid.uuid4().hex[:12]}"
    body = submit.create_request(spark_cluster.master_url, "sleep", {"seconds": 600}, app_name)
    driver_id = submit.submit(spark_cluster.rest_url, body)
    try:
        _wait_for_stdout(spark_cluster, driver_id, "sleeping 600")
        worker = spark_cluster.workers[0]
        procs = _job_processes(worker.work_dir, driver_id)
        assert procs, f"no process runs in {worker.work_dir / driver_id}"
        listening = [conn.laddr for proc in procs
                     for conn in proc.net_connections(kind="inet")
                     if conn.status == psutil.CONN_LISTEN]
        addresses = {_plain(addr.ip) for addr in listening}
        # Driver RPC, block manager and UI follow SPARK_LOCAL_IP = the worker's POD_IP; py4j's
        # gateway is on 127.0.0.1. Nothing may listen on a wildcard or non-loopback address.
        assert ipaddress.ip_address(worker.pod_ip) in addresses, listening
        assert all(a.is_loopback and a.version == 4 for a in addresses), listening
        answer = submit.kill(spark_cluster.rest_url, driver_id)
        assert answer.get("success"), answer
        final = submit.wait_state(spark_cluster.rest_url, driver_id, {"KILLED"}, timeout=60)
        assert final["driverState"] == "KILLED"
        psutil.wait_procs(procs, timeout=30)
        assert not [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        if submit.status(spark_cluster.rest_url, driver_id).get("driverState") == "RUNNING":
            submit.kill(spark_cluster.rest_url, driver_id)
