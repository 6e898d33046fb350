"""Pods stop as the kubelet stops them (simulator/backends/stopping.py), without Docker or a JVM:
the preStop hook first, within the grace period, then SIGTERM with what is left of it; a hook
that outlives the grace period is killed and gets the kubelet's 2 s extension; the docker
backend's calls are checked against a stand-in `docker` CLI on PATH that records them."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from simulator.backends.docker.backend import DockerBackend
from simulator.backends.process.pods import SPARK_ENTRYPOINT, image_command
from simulator.backends.stopping import DOWN_GRACE, HOOK_EXTENSION, PodStop, stop_one, stop_pods
from simulator.run import PodRecord

FAKE_DOCKER = """#!/usr/bin/env bash
echo "$*" >>"${DOCKER_CALLS}"
case "$1" in
    inspect) echo '[{"State": {"Running": true, "Status": "running"}}]' ;;
    exec) echo "hook in $2: ${*:3}"; sleep "${FAKE_HOOK_SLEEP:-0}" ;;
    ps) echo cid-a ;;
esac
"""


def test_the_hook_runs_first_and_the_rest_of_the_grace_goes_to_sigterm():
    seen: list[str] = []
    terminated: list[float] = []
    said = stop_one(PodStop("w-1", 30, ["sh", "-c", "echo draining; exit 0"],
                            terminated.append), seen.append)
    assert "w-1: preStop: draining" in seen
    assert said.startswith("preStop exited 0 after")
    [left] = terminated
    assert HOOK_EXTENSION <= left <= 30


def test_a_hook_that_outlives_the_grace_is_killed_and_sigterm_gets_the_extension():
    terminated: list[float] = []
    said = stop_one(PodStop("w-1", 1, ["sleep", "30"], terminated.append), lambda _l: None)
    assert "still running when the grace period of 1s ended" in said
    assert terminated == [HOOK_EXTENSION]


def test_a_failing_hook_is_reported_and_the_pod_still_stops():
    terminated: list[float] = []
    said = stop_one(PodStop("w-1", 10, ["sh", "-c", "echo gave up; exit 1"],
                            terminated.append), lambda _l: None)
    assert "preStop exited 1" in said and len(terminated) == 1


def test_pods_without_a_hook_get_sigterm_with_their_whole_grace():
    terminated: dict[str, float] = {}
    stop_pods([PodStop(f"p-{i}", 10 + i, (), lambda s, i=i: terminated.__setitem__(f"p-{i}", s))
               for i in range(3)], lambda _l: None)
    assert terminated == {"p-0": 10, "p-1": 11, "p-2": 12}


def test_image_scripts_map_to_the_repository():
    assert image_command(["/opt/spark-stack/decommission.sh", "55"]) == [
        str(SPARK_ENTRYPOINT.parent / "decommission.sh"), "55"]
    assert image_command(["/bin/true"]) == ["/bin/true"]


@pytest.fixture
def fake_docker(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "docker"
    exe.write_text(FAKE_DOCKER)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls"
    calls.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CALLS", str(calls))
    return calls


def _backend(lines: list[str]) -> DockerBackend:
    backend = DockerBackend.__new__(DockerBackend)  # no `docker info` check: Docker is faked
    backend.progress = lines.append
    return backend


def _worker(container: str, grace: float = 60) -> PodRecord:
    return PodRecord(name=f"w-{container}", workload="w", component="worker",
                     template_hash="h", ip="172.28.1.9", container=container,
                     pre_stop=["/opt/spark-stack/decommission.sh", str(int(grace) - 5)],
                     grace=grace)


def test_docker_execs_the_hook_then_stops_with_the_rest_of_the_grace(fake_docker):
    lines: list[str] = []
    _backend(lines)._remove([_worker("cid-w")])
    calls = fake_docker.read_text().splitlines()
    exec_at = calls.index("exec cid-w /opt/spark-stack/decommission.sh 55")
    [stop] = [c for c in calls if c.startswith("stop ")]
    assert calls.index(stop) > exec_at and calls[-1] == "rm -f -v cid-w"
    seconds = int(stop.split()[2])
    assert stop == f"stop -t {seconds} cid-w" and 2 <= seconds <= 60
    assert "w-cid-w: preStop: hook in cid-w: /opt/spark-stack/decommission.sh 55" in lines


def test_docker_gives_a_hook_that_outlives_the_grace_only_the_extension(fake_docker,
                                                                         monkeypatch):
    monkeypatch.setenv("FAKE_HOOK_SLEEP", "30")
    _backend([])._remove([_worker("cid-w", grace=1)])
    calls = fake_docker.read_text().splitlines()
    assert f"stop -t {HOOK_EXTENSION:.0f} cid-w" in calls


def test_docker_pod_without_a_hook_gets_its_grace(fake_docker):
    rec = PodRecord(name="api-0", workload="api", component="api", template_hash="h",
                    ip="172.28.1.8", container="cid-api", grace=30)
    _backend([])._remove([rec])
    calls = fake_docker.read_text().splitlines()
    assert not any(c.startswith("exec") for c in calls)
    assert "stop -t 30 cid-api" in calls


def test_docker_down_uses_a_short_grace_and_no_hooks(fake_docker, tmp_path):
    from simulator.run import RunState

    backend = _backend([])
    backend.state = RunState.__new__(RunState)
    backend.state.run_id, backend.state.pods, backend.state.extras = "run-x", {}, {}
    backend.state.save = lambda: None
    backend.stop()
    calls = fake_docker.read_text().splitlines()
    assert f"stop -t {DOWN_GRACE:.0f} cid-a" in calls
    assert not any(c.startswith("exec") for c in calls)
