"""The session fixture brings up a master with one registered worker on loopback addresses."""
from __future__ import annotations

import ipaddress

import pytest

pytestmark = pytest.mark.spark


def test_master_alive_with_one_worker(spark_cluster) -> None:
    status = spark_cluster.status()
    assert status["status"] == "ALIVE"
    assert status["aliveworkers"] == 1
    worker = status["workers"][0]
    assert worker["state"] == "ALIVE"
    assert worker["cores"] == 1
    assert ipaddress.ip_address(worker["host"]).is_loopback
    assert spark_cluster.master_url.startswith("spark://127.")
    assert spark_cluster.work_dirs[0].is_dir()
