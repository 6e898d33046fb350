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


# --- spark_cluster: simulator.local.SparkCluster, the launcher the simulator uses too ------------
import pytest  # noqa: E402

from simulator.local import SparkCluster  # noqa: E402


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory):
    """One real master + one worker for the whole session, started by images/spark-job/entrypoint.sh.

    Yields a ``simulator.local.SparkCluster``: ``master_url``, ``rest_url``, ``ui_url``,
    ``worker_ui_urls``, ``work_dirs`` (drivers' stdout is ``<work dir>/<driver id>/stdout``),
    ``log_paths``, ``master_ip``, ``status()``, ``workers[i].log_path``. The machine's AppCDS
    archives exist before the first JVM starts, as in the image (made once per machine by
    make-cds.sh, reused afterwards). Every process is stopped by process group at the end.
    """
    with SparkCluster(tmp_path_factory.mktemp("spark"), workers=1) as cluster:
        yield cluster
