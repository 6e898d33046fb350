"""Drivers and executors map the job AppCDS archive the worker hands them (jvm-cds.sh, make-cds.sh).

Real JVMs on the session cluster (its fixture makes the machine's archives first). ``-Xshare:on``
turns "CDS silently off" into "the JVM refuses to start", so a FINISHED job with it proves that
both the driver and the executor mapped the archive; the API's owner lookup must still find the
app name in the driver's stderr head, and the driver's stdout (the job's output) stays free of
JVM CDS chatter. How much faster it is: bench/job_cds_bench.py, not asserted here.
"""
from __future__ import annotations

import re
import uuid

import pytest

from simulator.local import submit as rest

pytestmark = pytest.mark.spark

# The API's parser (images/api-service/spark_api/spark.py, _APP_NAME_PROP) reads this.
APP_NAME_PROP = re.compile(r"-Dspark\.app\.name=([^\s'\"]+)")


def test_worker_hands_out_the_job_archive(spark_cluster) -> None:
    log = spark_cluster.workers[0].log_path.read_text(errors="replace")
    match = re.search(r"job-cds=using (\S+job-[^\s]+\.jsa)", log)
    assert match, f"the worker does not hand out a job archive:\n{log[:3000]}"


def test_driver_and_executor_map_the_archive_strictly(spark_cluster) -> None:
    app = f"jobcds-{uuid.uuid4().hex[:8]}"
    strict = "-XX:TieredStopAtLevel=1 -Xshare:on"
    body = rest.create_request(spark_cluster.master_url, "pi", {"samples": 1000, "partitions": 1},
                               app, **{"spark.driver.extraJavaOptions": strict,
                                       "spark.executor.extraJavaOptions": strict})
    driver = rest.submit(spark_cluster.rest_url, body)
    final = rest.wait_state(spark_cluster.rest_url, driver)
    work = spark_cluster.work_dirs[0]
    stderr = (work / driver / "stderr").read_text(errors="replace")
    stdout = (work / driver / "stdout").read_text(errors="replace")
    assert final["driverState"] == "FINISHED", (final, stderr[-3000:])
    head = stderr[:16384]
    assert head.startswith("Launch Command"), head[:300]
    assert "-XX:SharedArchiveFile=" in head          # "Picked up JAVA_TOOL_OPTIONS: ..."
    found = APP_NAME_PROP.search(head)
    assert found and found.group(1) == app
    assert "Pi is roughly" in stdout
    assert "[cds" not in stdout and "shared archive" not in stdout.lower(), stdout[:2000]
    # The app's executor ran the task under -Xshare:on too (it would not have started otherwise).
    executors = [p.read_text(errors="replace") for p in work.glob("app-*/*/stderr")]
    strict_ones = [text for text in executors if "-Xshare:on" in text[:8192]]
    assert any("Got assigned task" in text for text in strict_ones), f"no such executor in {work}"
