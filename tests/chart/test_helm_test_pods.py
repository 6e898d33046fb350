"""The spark-job `helm test` pod's script, run as rendered against a real master (JVMs)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from simulator.render import render

pytestmark = pytest.mark.spark


def _script(replicas: int, master_ui: str) -> str:
    r = render(release="spark-cluster", set_values=[
        "tags.install-service=false", f"spark-job.spark.worker.replicas={replicas}",
        "spark-job.test.timeoutSeconds=10"])
    [pod] = [m.obj for m in r.manifests if m.is_hook]
    script = pod["spec"]["containers"][0]["command"][-1]
    rendered_url = '"http://spark-cluster-spark-master:8080/json/"'
    assert rendered_url in script
    # The pod would resolve the master Service; here the session's master is on loopback.
    return script.replace(rendered_url, repr(f"{master_ui}/json/"))


def test_passes_when_the_master_reports_the_workers_alive(spark_cluster) -> None:
    done = subprocess.run([sys.executable, "-c", _script(1, spark_cluster.ui_url)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alive workers 1 want 1" in done.stdout


def test_fails_naming_the_shortfall(spark_cluster) -> None:
    done = subprocess.run([sys.executable, "-c", _script(2, spark_cluster.ui_url)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "does not report 2 ALIVE workers" in done.stderr
