"""Local components: one place that starts each kind of local process, used by the process
backend, the tests and the benchmarks alike.

Each is shaped like a testcontainers module: configuration in the constructor, ``start()``
returning the running component, a readiness wait that raises ``ComponentStartError`` with what
the probe last saw, the log tail and a hint, ``stop()`` that always cleans up (process group,
start time checked first), and a context manager that cleans up when start fails.

- ``SparkMaster``, ``SparkWorker``, ``SparkCluster`` (spark.py): ``images/spark-job/entrypoint.sh``
- ``JobApi`` (api.py): ``python -m spark_api``
- ``MockOAuthProcess`` (oauth.py): ``python -m simulator.oauth``
- ``spark_home()`` (cache.py): the machine's stable Spark home; ``ensure_archives`` (cds.py):
  the AppCDS archives for it, made once per machine
- procs.py: detached processes found and killed again by record (run.json)
"""
from simulator.local.api import JobApi
from simulator.local.base import ComponentStartError, LocalComponent, host_env
from simulator.local.cache import cache_root, cds_cache, pyspark_dir, spark_home, stable_spark_home
from simulator.local.cds import ensure_archives
from simulator.local.loopback import free_block, free_loopback
from simulator.local.oauth import MockOAuthProcess
from simulator.local.procs import ProcRecord
from simulator.local.spark import SparkCluster, SparkMaster, SparkWorker, spark_image_env

__all__ = ["ComponentStartError", "JobApi", "LocalComponent", "MockOAuthProcess", "ProcRecord",
           "SparkCluster", "SparkMaster", "SparkWorker", "cache_root", "cds_cache",
           "ensure_archives", "free_block", "free_loopback", "host_env", "pyspark_dir",
           "spark_home", "spark_image_env", "stable_spark_home"]
