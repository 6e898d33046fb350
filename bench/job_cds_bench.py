"""Driver/executor AppCDS: a trivial job's submit -> FINISHED with and without the job archive.

ONE cluster (master + 1 worker from images/spark-job/entrypoint.sh: simulator.local.SparkCluster),
the catalog's pi job (1000 samples, 1 partition) through the master's REST gateway, the way the
job API submits it (C1 for driver and executor, the API's default). The two variants alternate
so load from anything else on the machine hits both alike:
- ``with_job_cds``: what every job gets now, the worker's JAVA_TOOL_OPTIONS name the job archive;
- ``without_job_cds``: the same job with ``-XX:SharedArchiveFile=<the JDK's default archive>``
  in its extraJavaOptions (a command-line flag beats JAVA_TOOL_OPTIONS), i.e. the state before:
  C1 + the JDK's own CDS only.
The archives come from make-cds.sh (simulator/local/cds.py makes any missing one).
"""
from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import record, summary
from simulator.local import SparkCluster, cds_cache, ensure_archives, spark_home
from simulator.local import submit as rest
from simulator.local.cds import JVM_CDS

RUNS = 6
C1 = "-XX:TieredStopAtLevel=1"


def jdk_default_archive() -> str:
    """The JDK's own classes.jsa, found the way jvm-cds.sh finds it."""
    out = subprocess.run(["bash", "-c", f". {JVM_CDS}; jdk_default_archive"],
                         capture_output=True, text=True, check=True)
    if not out.stdout.strip():
        raise RuntimeError("this JDK has no default CDS archive (lib/server/classes.jsa)")
    return out.stdout.strip()


def one_job(cluster: SparkCluster, java_options: str, n: int) -> float:
    body = rest.create_request(cluster.master_url, "pi", {"samples": 1000, "partitions": 1},
                               f"bench-jobcds-{n}", **{
                                   "spark.driver.extraJavaOptions": java_options,
                                   "spark.executor.extraJavaOptions": java_options})
    began = time.perf_counter()
    driver = rest.submit(cluster.rest_url, body)
    while (state := rest.status(cluster.rest_url, driver).get("driverState")) not in rest.TERMINAL:
        time.sleep(0.1)
    elapsed = time.perf_counter() - began
    if state != "FINISHED":
        raise RuntimeError(f"bench job {driver} ended {state}")
    return elapsed


def main() -> None:
    if not ensure_archives(cds_cache(), spark_home(), print):
        raise RuntimeError(f"could not make the CDS archives in {cds_cache()}")
    variants = {"with_job_cds": C1,
                "without_job_cds": f"{C1} -XX:SharedArchiveFile={jdk_default_archive()}"}
    samples: dict[str, list[float]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory(prefix="bench-jobcds-") as tmp:
        with SparkCluster(Path(tmp)) as cluster:
            worker_log = cluster.workers[0].log_path.read_text(errors="replace")
            if "job-cds=using" not in worker_log:
                raise RuntimeError(f"the worker does not use a job archive:\n{worker_log[:3000]}")
            print("warm-up job (not counted)", flush=True)
            one_job(cluster, C1, 0)
            for i in range(RUNS):
                for name in (variants if i % 2 == 0 else reversed(list(variants))):
                    seconds = one_job(cluster, variants[name], i + 1)
                    samples[name].append(seconds)
                    print(f"run {i + 1}/{RUNS} {name}: {seconds:.2f} s", flush=True)
    results = {name: summary(values) | {"samples": [round(v, 3) for v in values]}
               for name, values in samples.items()}
    speedup = results["without_job_cds"]["median"] / results["with_job_cds"]["median"]
    print(f"median with {results['with_job_cds']['median']:.2f} s, without "
          f"{results['without_job_cds']['median']:.2f} s ({speedup:.2f}x)")
    record("job_cds", {
        "what": "pi (1000 samples) submit -> FINISHED through the REST gateway, one cluster "
                "(master + 1 worker, 1 core), variants alternating; driver and executor C1",
        "variants": {"with_job_cds": "worker JAVA_TOOL_OPTIONS -XX:SharedArchiveFile=job-*.jsa",
                     "without_job_cds": "extraJavaOptions override with the JDK default archive"},
        "seconds": results, "speedup_median": round(speedup, 2)})


if __name__ == "__main__":
    main()
