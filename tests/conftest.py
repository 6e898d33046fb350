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


# --- parallel runs (pytest-xdist, `-n N`): what runs together, and in which order ---------------
# A work unit is a test file, so its module-scoped stack or cluster is started once and its tests
# keep their order; the files below have no shared state, and each of their tests is its own unit.
SPLIT_PER_TEST = ("tests/chart/test_render_properties.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files that start JVMs first (they are the longest, mostly waiting on start-ups and jobs),
    then the other slow ones: the workers' last minutes go to short tests, not to one long file.
    Stable: files keep their order within each class, tests their order within each file."""
    weights: dict[str, int] = {}
    for item in items:
        own = 0 if item.get_closest_marker("spark") else 1 if item.get_closest_marker("slow") else 2
        weights[item.path] = min(own, weights.get(item.path, 2))
    items.sort(key=lambda item: weights[item.path])


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's scope scheduling with our units, in collection order (see above)."""
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if path in SPLIT_PER_TEST else path

    config.option.loadscopereorder = False
    return SuiteScheduling(config, log)
