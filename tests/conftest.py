"""Suite-wide configuration: hypothesis profiles, chosen with HYPOTHESIS_PROFILE."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# ci: the default (the issue asks for >= 200 examples of the render properties in CI);
# dev: the inner loop; nightly: long runs.
settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("nightly", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- spark_cluster (owned by the spark-image engineer; code in tests/spark/cluster.py) ---------
import pytest  # noqa: E402

from spark.cluster import ClusterConfig, LocalSparkCluster  # noqa: E402


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory):
    """One real master + one worker for the whole session, started by images/spark-job/entrypoint.sh.

    Yields a LocalSparkCluster: ``master_url``, ``rest_url``, ``ui_url``, ``worker_ui_urls``,
    ``work_dirs`` (drivers' stdout is ``<work dir>/<driver id>/stdout``), ``log_paths``,
    ``master_ip``, ``status()``. Every process is stopped by process group at the end.
    """
    config = ClusterConfig(base_dir=tmp_path_factory.mktemp("spark"))
    # The machine's AppCDS archives (master, worker, drivers+executors) exist before the cluster
    # starts, as in the image: made once per machine by make-cds.sh, a no-op afterwards.
    from simulator.backends.cds_warmup import ensure_archives
    from spark.cluster import spark_home
    ensure_archives(config.cds_dir, str(spark_home()), lambda line: print(line, flush=True))
    cluster = LocalSparkCluster(config)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
