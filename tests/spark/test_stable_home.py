"""The JVM warm-up is paid once per machine: every pyspark install maps to one stable Spark home,
and the AppCDS archives made for it are reused, without make-cds.sh, by any later virtualenv.

The "second install" is a hard-linked copy of the installed pyspark package at another path
(what a second virtualenv holds: the same files under another directory). The first test needs
no JVM; the second checks the same against the machine's real cache and the running session
cluster, whose daemons map the archives made for the stable home.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest

from simulator.local import cds, pyspark_dir, spark_home, stable_spark_home
from simulator.local.cache import MARKER, cache_root, cds_cache


@pytest.fixture()
def second_install(tmp_path: Path) -> Path:
    """The installed pyspark package, hard-linked at another path (another "virtualenv")."""
    copy = tmp_path / "venv-2" / "site-packages" / "pyspark"
    shutil.copytree(pyspark_dir(), copy, copy_function=os.link, symlinks=True)
    return copy


@pytest.fixture()
def make_cds_recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Replaces make-cds.sh by a script that only records that it ran (and fails)."""
    ran = tmp_path / "make-cds-ran"
    script = tmp_path / "make-cds.sh"
    script.write_text(f'#!/usr/bin/env bash\necho "make-cds: recorder" ; touch "{ran}"; exit 3\n')
    monkeypatch.setattr(cds, "MAKE_CDS", script)
    monkeypatch.setattr(cds, "_checked", set())   # forget what this process already checked
    return ran


def test_a_second_install_maps_to_the_same_home_and_reuses_its_archives(
        tmp_path: Path, second_install: Path, make_cds_recorder: Path) -> None:
    root = tmp_path / "cache" / "spark"
    first = stable_spark_home(pyspark_dir(), root)
    again = stable_spark_home(second_install, root)
    assert again == first
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [first.name]
    assert first.name.startswith("4.3.0-")
    assert (first / "bin" / "spark-class").is_file() and (first / "python" / "lib").is_dir()
    jar = next((first / "jars").glob("spark-core_*.jar"))
    assert jar.stat().st_size == (pyspark_dir() / "jars" / jar.name).stat().st_size
    assert '"source"' in (first / MARKER).read_text()

    # The archives jvm-cds.sh names for this home, as make-cds.sh would have left them.
    cds_dir = tmp_path / "cds"
    cds_dir.mkdir()
    archives = cds.archive_paths(cds_dir, str(first))
    assert [a.name.split("-")[0] for a in archives] == ["master", "worker", "job"]
    for archive in archives:
        archive.write_bytes(b"made by an earlier virtualenv")
    said: list[str] = []
    assert cds.ensure_archives(cds_dir, again, said.append)
    assert not make_cds_recorder.exists(), "make-cds.sh ran although every archive was there"
    assert len(said) == 1 and said[0].startswith(
        f"JVM fast start: reusing CDS archives in {cds_dir.resolve()} (made "), said

    # The controls: with one archive missing, make-cds.sh does run ...
    archives[-1].unlink()
    cds._checked.clear()
    assert not cds.ensure_archives(cds_dir, again, said.append)
    assert make_cds_recorder.exists()
    # ... and an archive older than its Spark home (made for an earlier home at the same path,
    # whose jars had other mtimes) is not reused but removed and made again.
    make_cds_recorder.unlink()
    archives[-1].write_bytes(b"made for this home")
    older = (first / MARKER).stat().st_mtime - 60
    os.utime(archives[0], (older, older))
    cds._checked.clear()
    said.clear()
    assert not cds.ensure_archives(cds_dir, again, said.append)
    assert make_cds_recorder.exists() and not archives[0].exists()
    assert any("predates the Spark home" in line for line in said), said


@pytest.mark.spark
def test_the_session_cluster_runs_from_the_stable_home_and_a_second_install_reuses_it(
        spark_cluster, second_install: Path, make_cds_recorder: Path) -> None:
    home = spark_home()
    assert spark_cluster.master.env["SPARK_HOME"] == str(home)
    assert home.parent == cache_root() / "spark"
    assert pyspark_dir() not in home.parents and home != pyspark_dir()
    homes_before = sorted((cache_root() / "spark").iterdir())
    assert stable_spark_home(second_install, cache_root() / "spark") == home
    assert sorted((cache_root() / "spark").iterdir()) == homes_before

    said: list[str] = []
    assert cds.ensure_archives(cds_cache(), home, said.append)
    assert not make_cds_recorder.exists()
    assert said and "reusing CDS archives in" in said[0], said
    # The master's JVM maps the archive made for the stable home (a mismatch would not map).
    master = psutil.Process(spark_cluster.master.record.pid)
    jvm = next(p for p in [master, *master.children(recursive=True)] if p.name() == "java")
    maps = Path(f"/proc/{jvm.pid}/maps").read_text()
    master_archive = cds.archive_paths(cds_cache(), str(home))[0]
    assert str(master_archive) in maps, f"{master_archive} not mapped by the master"
