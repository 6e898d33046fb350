"""Fixtures for the simulator tests: runs go to a temp dir; every stack is torn down."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def needs_spark() -> None:
    """Skip (with the reason) when the JVM or pyspark a spark-marked test needs is missing."""
    if shutil.which("java") is None:
        pytest.skip("java is not on PATH: install openjdk-17-jre-headless")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.skip("pyspark is not installed: pip install 'spark-stack[spark]'")
    if not (Path(__file__).resolve().parents[2] / "images/spark-job/entrypoint.sh").exists():
        pytest.skip("images/spark-job/entrypoint.sh is missing")


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runs")
    old = os.environ.get("SPARK_STACK_RUNS_DIR")
    os.environ["SPARK_STACK_RUNS_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SPARK_STACK_RUNS_DIR", None)
    else:
        os.environ["SPARK_STACK_RUNS_DIR"] = old
