"""The real spark-job image: builds, runs locked down (OpenShift-like), master and worker meet.

Containers run as an arbitrary UID with GID 0, a read-only root filesystem plus a /tmp tmpfs,
no capabilities and no-new-privileges, on an ``--internal`` user network (no way out of the
host). The master is queried from inside its container, so nothing is published on the host.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ARBITRARY_UID = "1000660000"
LOCKED_DOWN = ["--user", f"{ARBITRARY_UID}:0", "--read-only",
               "--tmpfs", "/tmp:rw,exec,size=768m", "--cap-drop", "ALL",
               "--security-opt", "no-new-privileges", "--memory", "1536m"]
PY = "/opt/venv/bin/python"


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout)


@dataclass
class DockerSpark:
    image: str
    network: str
    master: str
    worker: str

    def master_json(self) -> dict:
        """``/json/`` fetched from inside the master container (its own POD_IP)."""
        code = ("import subprocess,urllib.request;ip=subprocess.check_output(['hostname','-i'])"
                ".split()[0].decode();print(urllib.request.urlopen("
                "f'http://{ip}:8080/json/',timeout=5).read().decode())")
        return json.loads(docker("exec", self.master, PY, "-c", code).stdout)

    def wait(self, predicate, what: str, timeout: float = 180) -> dict:
        print(f"[docker] waiting up to {timeout:.0f} s for {what}", flush=True)
        deadline = time.monotonic() + timeout
        seen: object = None
        while time.monotonic() < deadline:
            for name in (self.master, self.worker):
                state = docker("inspect", "-f", "{{.State.Status}}", name, check=False)
                if state.returncode == 0 and state.stdout.strip() == "exited":
                    seen = f"{name} exited"
                    deadline = 0.0
            try:
                seen = self.master_json()
                if predicate(seen):
                    return seen
            except (subprocess.CalledProcessError, json.JSONDecodeError) as exc:
                seen = getattr(exc, "stderr", None) or repr(exc)
            time.sleep(1)
        logs = "\n".join(docker("logs", "--tail", "30", name, check=False).stdout
                         + docker("logs", "--tail", "30", name, check=False).stderr
                         for name in (self.master, self.worker))
        raise AssertionError(f"{what}: not after {timeout:.0f} s; last: {seen}\n{logs}")


@pytest.fixture(scope="module")
def docker_spark() -> Iterator[DockerSpark]:
    from simulator.images import build_image, docker_reachable

    if not docker_reachable():
        pytest.skip("no Docker engine reachable (docker info failed): start one, e.g. "
                    "python -c 'from simulator.images import ensure_docker; ensure_docker()'")
    built = build_image("spark-job")
    print(f"[docker] image {built.tag}: {built.seconds:.0f} s, "
          f"{built.size_bytes / 2**20:.0f} MiB", flush=True)
    run_id = uuid.uuid4().hex[:8]
    env = DockerSpark(built.tag, f"spark-stack-test-{run_id}",
                                         f"spark-stack-test-master-{run_id}",
                                         f"spark-stack-test-worker-{run_id}")
    try:
        docker("network", "create", "--internal", env.network)
        began = time.monotonic()
        docker("run", "-d", "--name", env.master, "--network", env.network,
               "--network-alias", "spark-master", *LOCKED_DOWN,
               "-e", "SPARK_DAEMON_MEMORY=512m", env.image, "master")
        env.wait(lambda s: s.get("status") == "ALIVE", "master ALIVE")
        docker("run", "-d", "--name", env.worker, "--network", env.network, *LOCKED_DOWN,
               "-e", "SPARK_MASTER_URL=spark://spark-master:7077",
               "-e", "SPARK_WORKER_MEMORY=1g", "-e", "SPARK_DAEMON_MEMORY=512m",
               env.image, "worker")
        env.wait(lambda s: s.get("aliveworkers") == 1, "the worker registered")
        print(f"[docker] master + worker ALIVE {time.monotonic() - began:.1f} s after "
              f"'docker run' of the master", flush=True)
        yield env
    finally:
        for name in (env.worker, env.master):
            docker("rm", "-f", name, check=False)
        docker("network", "rm", env.network, check=False)


def test_worker_registers_with_the_master(docker_spark: DockerSpark) -> None:
    status = docker_spark.master_json()
    assert status["status"] == "ALIVE"
    assert status["aliveworkers"] == 1
    assert status["workers"][0]["state"] == "ALIVE"
    assert status["workers"][0]["cores"] == 1


def test_containers_run_locked_down_as_an_arbitrary_uid(docker_spark: DockerSpark) -> None:
    for name in (docker_spark.master, docker_spark.worker):
        assert docker("exec", name, "id", "-u").stdout.strip() == ARBITRARY_UID
        assert docker("exec", name, "id", "-g").stdout.strip() == "0"
        inspect = json.loads(docker("inspect", name).stdout)[0]["HostConfig"]
        assert inspect["ReadonlyRootfs"] is True
        assert inspect["CapDrop"] == ["ALL"]
        # The root filesystem really is read-only for the process.
        assert docker("exec", name, "touch", "/opt/spark-jobs/x", check=False).returncode != 0
        logs = docker("logs", name).stdout
        assert "entrypoint: starting Spark" in logs


def test_daemons_use_the_archives_baked_into_the_image(docker_spark: DockerSpark) -> None:
    for name, role in ((docker_spark.master, "master"), (docker_spark.worker, "worker")):
        logs = docker("logs", name).stdout
        assert f"cds=using /opt/spark-stack/cds/{role}-4.3.0-" in logs, logs[:2000]
        # ...and the JVM really mapped it (a mismatched archive is silently ignored).
        maps = docker("exec", name, "sh", "-c",
                      "cat /proc/$(pgrep -x java | head -1)/maps").stdout
        assert f"/opt/spark-stack/cds/{role}-4.3.0-" in maps


def test_image_metadata(docker_spark: DockerSpark) -> None:
    config = json.loads(docker("image", "inspect", docker_spark.image).stdout)[0]["Config"]
    assert config["User"] == "185:0"
    assert set(config["ExposedPorts"]) == {f"{p}/tcp" for p in (7077, 8080, 6066, 8081, 7078)}
    assert config["Entrypoint"][-1] == "/opt/spark-stack/entrypoint.sh"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["SPARK_HOME"] == "/opt/spark" and env["SPARK_JOBS_DIR"] == "/opt/spark-jobs"
    assert env["SPARK_CDS_DIR"] == "/opt/spark-stack/cds"
    listing = docker("run", "--rm", "--entrypoint", "ls", docker_spark.image,
                     "/opt/spark-jobs").stdout.split()
    assert "catalog.json" in listing and "pi.py" in listing


def test_pi_job_runs_inside_the_image(docker_spark: DockerSpark) -> None:
    """Submit pi through the master's REST gateway from inside its container; read the result."""
    code = """
import json, subprocess, time, urllib.request
ip = subprocess.check_output(['hostname', '-i']).split()[0].decode()
body = {"action": "CreateSubmissionRequest", "appResource": "file:/opt/spark-jobs/pi.py",
        "mainClass": "org.apache.spark.deploy.PythonRunner",
        "appArgs": ["/opt/spark-jobs/pi.py", "", json.dumps({"samples": 20000})],
        "clientSparkVersion": "4.3.0", "environmentVariables": {},
        "sparkProperties": {"spark.master": f"spark://{ip}:7077", "spark.app.name": "pi-docker",
                            "spark.submit.deployMode": "cluster", "spark.driver.cores": "0",
                            "spark.driver.memory": "512m", "spark.executor.memory": "512m"}}
def call(path, data=None):
    req = urllib.request.Request(f"http://{ip}:6066/v1/submissions/{path}",
                                 data=json.dumps(data).encode() if data else None,
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())
sid = call("create", body)["submissionId"]
for _ in range(600):
    state = call(f"status/{sid}")
    if state["driverState"] not in ("RUNNING", "SUBMITTED"):
        break
    time.sleep(0.5)
print(json.dumps({"id": sid, "state": state["driverState"]}))
"""
    answer = json.loads(docker("exec", docker_spark.master, PY, "-c", code,
                               timeout=400).stdout.strip().splitlines()[-1])
    stdout = docker("exec", docker_spark.worker, "cat",
                    f"/tmp/spark-home/work/{answer['id']}/stdout", check=False).stdout
    assert answer["state"] == "FINISHED", stdout[-3000:]
    match = re.search(r"^Pi is roughly (\d+\.\d+)$", stdout, re.MULTILINE)
    assert match and 2.9 < float(match.group(1)) < 3.4, stdout[-3000:]
