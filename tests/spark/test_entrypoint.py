"""images/spark-job/entrypoint.sh: the settings it reads, the command it runs, its CDS handling.

Most tests put a recording ``bin/spark-class`` in a scratch SPARK_HOME: the unit under test is
the entrypoint's translation of the environment into a command, and that is checked exactly
without starting a JVM. The real JVMs (and the real CDS archive being written and mapped) are
checked by the ``spark``-marked test at the end and by every test that uses ``spark_cluster``.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from simulator.local import SparkMaster, free_block, spark_home
from simulator.local.spark import ENTRYPOINT, MASTER_PORT, MASTER_REST_PORT, MASTER_UI_PORT

RECORDER = """#!/usr/bin/env bash
# Records what the entrypoint runs, then behaves like a JVM that writes its CDS archive at exit.
/usr/bin/python3 - "$@" <<'PY'
import json, os, sys
keys = [k for k in os.environ
        if k.startswith(("SPARK_", "HADOOP_")) or k in ("HOME", "POD_IP", "JAVA_TOOL_OPTIONS")]
json.dump({"argv": sys.argv[1:], "env": {k: os.environ[k] for k in keys}},
          open(os.environ["RECORD"], "w"))
PY
for opt in $SPARK_DAEMON_JAVA_OPTS; do
    case "$opt" in -XX:ArchiveClassesAtExit=*) echo archive > "${opt#*=}" ;; esac
done
"""


@pytest.fixture()
def fake_home(tmp_path: Path) -> Path:
    home = tmp_path / "spark"
    (home / "bin").mkdir(parents=True)
    (home / "jars").mkdir()
    (home / "jars" / "spark-core_2.13-4.3.0.jar").write_bytes(b"")
    script = home / "bin" / "spark-class"
    script.write_text(RECORDER)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return home


def run(env: dict[str, str], *args: str, user: int | None = None,
        entrypoint: Path = ENTRYPOINT) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"]}
    base.update(env)
    return subprocess.run([str(entrypoint), *args], env=base, capture_output=True, text=True,
                          timeout=60, user=user, group=0 if user is not None else None)


def recorded(path: Path) -> dict:
    return json.loads(path.read_text())


def base_env(tmp_path: Path, fake_home: Path, **extra: str) -> dict[str, str]:
    env = {"HOME": str(tmp_path / "home"), "SPARK_HOME": str(fake_home),
           "POD_IP": "127.31.32.33", "RECORD": str(tmp_path / "record.json"),
           "SPARK_CDS_DIR": str(tmp_path / "cds")}
    env.update(extra)
    return env


@pytest.mark.parametrize("args", [[], ["driver"], ["Master"], ["master", "worker"]])
def test_refuses_a_bad_role_with_usage_and_exit_64(tmp_path, fake_home, args) -> None:
    result = run(base_env(tmp_path, fake_home), *args)
    assert result.returncode == 64
    assert "usage:" in result.stderr and "master|worker" in result.stderr
    assert not (tmp_path / "record.json").exists()


@pytest.mark.parametrize(("role", "setting", "value", "named"), [
    ("worker", "SPARK_MASTER_URL", "", "SPARK_MASTER_URL"),
    ("worker", "SPARK_MASTER_URL", "127.0.0.1:7077", "spark://host:port"),
    ("master", "SPARK_MASTER_PORT", "80", "1024..65535"),
    ("master", "SPARK_MASTER_REST_PORT", "http", "SPARK_MASTER_REST_PORT"),
    ("worker", "SPARK_WORKER_CORES", "0", "SPARK_WORKER_CORES"),
    ("worker", "SPARK_WORKER_MEMORY", "lots", "SPARK_WORKER_MEMORY"),
    ("master", "SPARK_JVM_FAST_START", "yes", "SPARK_JVM_FAST_START"),
    ("worker", "SPARK_WORKER_DECOMMISSION", "on", "SPARK_WORKER_DECOMMISSION"),
])
def test_bad_settings_are_refused_naming_the_variable(tmp_path, fake_home, role, setting,
                                                      value, named) -> None:
    env = base_env(tmp_path, fake_home, SPARK_MASTER_URL="spark://127.0.0.1:7077")
    env[setting] = value
    result = run(env, role)
    assert result.returncode == 78, result.stderr
    assert named in result.stderr
    assert not (tmp_path / "record.json").exists()


def test_missing_spark_home_is_explained(tmp_path, fake_home) -> None:
    env = base_env(tmp_path, fake_home, SPARK_HOME=str(tmp_path / "nowhere"))
    result = run(env, "master")
    assert result.returncode != 0
    assert "SPARK_HOME" in result.stderr


def test_master_command_defaults_and_first_run_creates_the_archive(tmp_path, fake_home) -> None:
    result = run(base_env(tmp_path, fake_home), "master")
    assert result.returncode == 0, result.stderr
    rec = recorded(tmp_path / "record.json")
    argv, env = rec["argv"], rec["env"]
    assert argv[:7] == ["org.apache.spark.deploy.master.Master", "--host", "127.31.32.33",
                        "--port", "7077", "--webui-port", "8080"]
    assert argv[7] == "--properties-file" and len(argv) == 9
    props = Path(argv[8]).read_text().split("\n")
    assert "spark.master.rest.enabled true" in props
    assert "spark.master.rest.port 6066" in props
    assert env["SPARK_LOCAL_IP"] == "127.31.32.33"
    assert env["SPARK_DAEMON_MEMORY"] == "512m"
    conf_dir = Path(env["SPARK_CONF_DIR"])
    assert conf_dir.is_dir() and not any(conf_dir.iterdir())   # CDS needs it empty
    java_opts = env["SPARK_DAEMON_JAVA_OPTS"].split()
    assert "-XX:TieredStopAtLevel=1" in java_opts
    [archive_opt] = [o for o in java_opts if o.startswith("-XX:ArchiveClassesAtExit=")]
    tmp_archive = Path(archive_opt.split("=", 1)[1])
    assert tmp_archive.parent == tmp_path / "cds" and tmp_archive.name.endswith(".tmp")
    # The recorder "wrote" the archive at exit: the supervisor renamed it into place.
    archives = sorted(p.name for p in (tmp_path / "cds").glob("*.jsa*"))
    assert len(archives) == 1 and archives[0].startswith("master-4.3.0-")
    assert archives[0].endswith(".jsa")
    assert "CDS archive ready" in result.stdout
    # One line says what starts and with which settings.
    assert "starting Spark master spark://127.31.32.33:7077" in result.stdout


def test_existing_archive_is_used_and_the_jvm_is_execed(tmp_path, fake_home) -> None:
    env = base_env(tmp_path, fake_home)
    assert run(env, "master").returncode == 0          # creates the archive
    result = run(env, "master")
    assert result.returncode == 0, result.stderr
    java_opts = recorded(tmp_path / "record.json")["env"]["SPARK_DAEMON_JAVA_OPTS"].split()
    [shared] = [o for o in java_opts if o.startswith("-XX:SharedArchiveFile=")]
    assert Path(shared.split("=", 1)[1]).is_file()
    assert not [o for o in java_opts if o.startswith("-XX:ArchiveClassesAtExit")]


def test_fast_start_off_passes_no_jvm_flags(tmp_path, fake_home) -> None:
    env = base_env(tmp_path, fake_home, SPARK_JVM_FAST_START="false",
                   SPARK_DAEMON_JAVA_OPTS="-Dkeep=me")
    assert run(env, "master").returncode == 0
    assert recorded(tmp_path / "record.json")["env"]["SPARK_DAEMON_JAVA_OPTS"] == "-Dkeep=me"
    assert not (tmp_path / "cds").exists()


def test_worker_command_has_every_setting_and_the_master_url_last(tmp_path, fake_home) -> None:
    env = base_env(tmp_path, fake_home, SPARK_MASTER_URL="spark://127.31.32.1:7077",
                   SPARK_WORKER_CORES="2", SPARK_WORKER_MEMORY="768m",
                   SPARK_WORKER_WEBUI_PORT="18081", SPARK_WORKER_PORT="17078",
                   SPARK_DAEMON_MEMORY="256m")
    result = run(env, "worker")
    assert result.returncode == 0, result.stderr
    rec = recorded(tmp_path / "record.json")
    argv = rec["argv"]
    assert argv[0] == "org.apache.spark.deploy.worker.Worker"
    assert argv[-1] == "spark://127.31.32.1:7077"
    pairs = dict(zip(argv[1:-1:2], argv[2:-1:2]))
    assert pairs["--host"] == "127.31.32.33"
    assert pairs["--port"] == "17078" and pairs["--webui-port"] == "18081"
    assert pairs["--cores"] == "2" and pairs["--memory"] == "768m"
    assert pairs["--work-dir"] == str(tmp_path / "home" / "work")   # default: $HOME/work
    assert (tmp_path / "home" / "work").is_dir()
    assert rec["env"]["SPARK_DAEMON_MEMORY"] == "256m"
    assert rec["env"]["SPARK_LOCAL_IP"] == "127.31.32.33"


@pytest.mark.parametrize("decommission", ["true", "false", None])
def test_worker_decommission_setting_and_pid_file(tmp_path, fake_home, decommission) -> None:
    """SPARK_WORKER_DECOMMISSION=true (the chart's default): the worker's properties turn on
    spark.decommission.enabled with SIGPWR, its drivers and executors get it too, and the
    worker's PID is left where decommission.sh (the preStop) reads it."""
    env = base_env(tmp_path, fake_home, SPARK_MASTER_URL="spark://127.31.32.1:7077",
                   SPARK_WORKER_DIR=str(tmp_path / "work"))
    if decommission is not None:
        env["SPARK_WORKER_DECOMMISSION"] = decommission
    result = run(env, "worker")
    assert result.returncode == 0, result.stderr
    rec = recorded(tmp_path / "record.json")
    props = Path(rec["argv"][rec["argv"].index("--properties-file") + 1]).read_text()
    on = decommission == "true"
    assert ("spark.decommission.enabled true" in props) is on
    assert ("spark.worker.decommission.signal PWR" in props) is on
    assert ("-Dspark.decommission.enabled=true" in rec["env"]["JAVA_TOOL_OPTIONS"]) is on
    assert f"decommission={'true' if on else 'false'}" in result.stdout
    assert (tmp_path / "work" / ".worker.pid").read_text().strip().isdigit()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to an arbitrary UID needs root")
def test_arbitrary_uid_without_passwd_entry_and_without_home(fake_home) -> None:
    """OpenShift: a random UID, GID 0, no passwd entry, HOME '/' (not writable)."""
    import shutil
    import tempfile

    # pytest's tmp dirs are private to root, and so may be the checkout's parents (a CI clone
    # in a 0700 folder): the other UID gets its own copies of the home and the entrypoint.
    with tempfile.TemporaryDirectory(prefix="spark-stack-uid-") as top:
        top_path = Path(top)
        top_path.chmod(0o755)
        home = shutil.copytree(fake_home, top_path / "spark")
        for script in (ENTRYPOINT, ENTRYPOINT.with_name("jvm-cds.sh")):     # it sources the 2nd
            shutil.copy2(script, top_path / script.name)
        entrypoint = top_path / ENTRYPOINT.name
        scratch = top_path / "tmp"
        scratch.mkdir(mode=0o1777)
        scratch.chmod(0o1777)
        record = scratch / "record.json"
        env = {"SPARK_HOME": str(home), "POD_IP": "127.31.32.33", "RECORD": str(record),
               "TMPDIR": str(scratch), "HOME": "/"}
        result = run(env, "master", user=1000660000, entrypoint=entrypoint)
        assert result.returncode == 0, result.stderr
        rec = recorded(record)
        home_dir = scratch / "spark-home-1000660000"
        assert rec["env"]["HOME"] == str(home_dir)
        assert rec["env"]["SPARK_USER"] == "spark"        # `id -un` has no name for this UID
        # Java would say user.home="?" (no passwd entry); drivers' Ivy setup needs a real one.
        assert rec["env"]["JAVA_TOOL_OPTIONS"] == f"-Duser.home={home_dir}"
        assert (home_dir / "cds").is_dir()
        assert list((home_dir / "cds").glob("master-*.jsa"))
        owners = {p.stat().st_uid for p in home_dir.rglob("*")}
        assert owners == {1000660000}


@pytest.mark.spark
@pytest.mark.slow
def test_real_master_writes_its_cds_archive_on_sigterm_and_maps_it_next_time(tmp_path) -> None:
    cds = tmp_path / "cds"
    for attempt in ("create", "use"):
        ip = free_block((MASTER_PORT, MASTER_UI_PORT, MASTER_REST_PORT), hosts=1) + ".1"
        # No machine warm-up: this test makes the master's archive itself, in its own CDS dir.
        with SparkMaster(ip, tmp_path / attempt, extra_env={"SPARK_CDS_DIR": str(cds)},
                         cds_warmup=False) as master:
            if attempt == "use":
                assert master.record is not None
                jvm = _jvm_of(master.record.pid)
                maps = Path(f"/proc/{jvm}/maps").read_text()
                assert "master-4.3.0-" in maps and ".jsa" in maps, "archive not mapped"
                assert "cds=using" in master.log_tail(200)
        archives = sorted(p.name for p in cds.iterdir() if p.is_file())
        assert len(archives) == 1 and archives[0].startswith("master-4.3.0-"), archives
        assert archives[0].endswith(".jsa"), archives   # no temporary name left behind
    assert spark_home().is_dir()


def _jvm_of(pid: int) -> int:
    """The java process: the entrypoint itself (exec) or its child (first, supervised run)."""
    import psutil

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        proc = psutil.Process(pid)
        for candidate in [proc, *proc.children(recursive=True)]:
            if candidate.name() == "java":
                return candidate.pid
        time.sleep(0.2)
    raise AssertionError(f"no java process under {pid}")


def _archive_names(env: dict[str, str]) -> tuple[Path, Path]:
    """(worker archive, job archive) as images/spark-job/jvm-cds.sh names them for ``env``."""
    lib = ENTRYPOINT.parent / "jvm-cds.sh"
    out = subprocess.run(["bash", "-c", f'. "{lib}"; daemon_archive worker; job_archive'],
                         env={"PATH": os.environ["PATH"], **env}, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return Path(out[0]), Path(out[1])


def test_worker_hands_the_job_archive_to_drivers_and_executors(tmp_path, fake_home) -> None:
    """Both archives present: the worker maps its own, its children get the job archive."""
    env = base_env(tmp_path, fake_home, SPARK_MASTER_URL="spark://127.31.32.1:7077")
    worker_archive, job_archive = _archive_names(env)
    assert job_archive.parent == tmp_path / "cds" and job_archive.name.startswith("job-4.3.0-")
    worker_archive.parent.mkdir(parents=True)
    worker_archive.write_text("archive")
    job_archive.write_text("archive")
    result = run(env, "worker")
    assert result.returncode == 0, result.stderr
    assert f"job-cds=using {job_archive}" in result.stdout
    rec = recorded(tmp_path / "record.json")
    # The worker's own archive is on its command line (it beats JAVA_TOOL_OPTIONS) ...
    assert f"-XX:SharedArchiveFile={worker_archive}" in rec["env"]["SPARK_DAEMON_JAVA_OPTS"]
    # ... and its drivers and executors inherit the job archive, CDS warnings kept off stdout.
    tool = rec["env"]["JAVA_TOOL_OPTIONS"].split()
    assert tool[0] == f"-Duser.home={tmp_path / 'home'}"
    assert f"-XX:SharedArchiveFile={job_archive}" in tool
    assert tool[-2:] == ["-Xlog:cds*=off", "-Xlog:cds*=warning:stderr"]
    # spark-class's launcher prints the command on stdout: it must not map the job archive.
    launcher = rec["env"].get("SPARK_LAUNCHER_OPTS", "")
    assert str(job_archive) not in launcher
    assert launcher == "" or launcher.endswith("/lib/server/classes.jsa")
    # A different Spark install (another classpath) gets another archive name.
    other = dict(env, SPARK_HOME=str(tmp_path / "other-spark"))
    assert _archive_names(other)[1] != job_archive


@pytest.mark.parametrize("worker_archive_present", [False, True])
def test_job_archive_is_not_handed_out_when_it_cannot_be_used(tmp_path, fake_home,
                                                              worker_archive_present) -> None:
    """A recording worker run, or no job archive at all: children get no archive flag."""
    env = base_env(tmp_path, fake_home, SPARK_MASTER_URL="spark://127.31.32.1:7077")
    worker_archive, job_archive = _archive_names(env)
    worker_archive.parent.mkdir(parents=True)
    if worker_archive_present:
        worker_archive.write_text("archive")   # but no job archive: nothing to hand out
        expected = "job-cds=none"
    else:
        job_archive.write_text("archive")      # the worker records its own: no second archive
        expected = "job-cds=not this run"
    result = run(env, "worker")
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    rec = recorded(tmp_path / "record.json")
    assert "SharedArchiveFile" not in rec["env"]["JAVA_TOOL_OPTIONS"]
    assert "SPARK_LAUNCHER_OPTS" not in rec["env"]
