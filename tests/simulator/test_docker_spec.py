"""The docker backend's `docker run` for each pod of the real rendered chart (no Docker needed):
restricted-v2 as OpenShift applies it, Services as network aliases, ports only on 127.0.0.1."""
from __future__ import annotations

from pathlib import Path

import pytest

from simulator import render as rendering
from simulator import topology
from simulator.backends.docker.containers import pod_spec, port_notes, run_uid, write_files


@pytest.fixture(scope="module")
def topo() -> topology.Topology:
    rendered = rendering.render(rendering.CHART_DIR, [], [], release="full-stack")
    owner = topology.secret_manifest("full-stack-api-service-owner", "default",
                                     {"owner-secret": "s3cret-value"})
    return topology.build(rendered.objects(hooks=False), "default", [owner])


def _flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


@pytest.mark.parametrize("workload", ["full-stack-spark-master", "full-stack-spark-worker",
                                      "full-stack-api-service"])
def test_pods_run_locked_down_as_an_arbitrary_uid(topo, workload, tmp_path):
    w = topo.workload(workload)
    spec = pod_spec("run-1", "net", w.pod_names()[0], "172.28.1.10", w, topo, "img:tag",
                    tmp_path)
    uid = run_uid("run-1")
    assert _flag_values(spec.args, "--user") == [f"{uid}:0"]
    assert uid >= 1_000_000_000 and uid % 10_000 == 0
    assert "--read-only" in spec.args
    assert _flag_values(spec.args, "--cap-drop") == ["ALL"]
    assert "no-new-privileges" in _flag_values(spec.args, "--security-opt")
    assert int(_flag_values(spec.args, "--memory")[0]) == w.main.resources.memory_limit
    # every emptyDir is a tmpfs with its sizeLimit, world-writable as the kubelet makes it
    tmpfs = _flag_values(spec.args, "--tmpfs")
    assert {t.split(":")[0] for t in tmpfs} == {m.mount_path for m in w.main.mounts
                                              if m.kind == "emptyDir"}
    assert all("mode=0777" in t and "size=" in t for t in tmpfs)
    # ports only on loopback; the pod's own address is the downward API's status.podIP
    assert all(p.startswith("127.0.0.1::") for p in _flag_values(spec.args, "-p"))
    assert spec.env["POD_IP"] == "172.28.1.10"
    assert _flag_values(spec.args, "--ip") == ["172.28.1.10"]
    assert spec.args[-1 - len(w.main.args)] == "img:tag"


def test_services_become_network_aliases(topo, tmp_path):
    w = topo.workload("full-stack-spark-master")
    aliases = _flag_values(pod_spec("r", "n", "m-0", "172.28.1.10", w, topo, "i", tmp_path).args,
                           "--network-alias")
    assert {"full-stack-spark-master", "full-stack-spark-master.default",
            "full-stack-spark-master.default.svc",
            "full-stack-spark-master.default.svc.cluster.local"} <= set(aliases)
    assert not any("worker" in a for a in aliases)


def test_port_remapping_is_reported_not_hidden(topo):
    notes = port_notes(topo)
    assert any("full-stack-api-service" in n and "8080 → 8000" in n for n in notes), notes


def test_secrets_never_reach_the_command_line(topo, tmp_path):
    """The owner secret is a Secret volume: a file group 0 may read (the container's GID),
    bind-mounted read-only; env values go to a 0600 env file, never into `docker run`'s args."""
    w = topo.workload("full-stack-api-service")
    spec = pod_spec("r", "n", "a-0", "172.28.1.12", w, topo, "i", tmp_path)
    assert not any("s3cret-value" in a for a in spec.args)
    secret_files = {f: mode for f, (content, mode) in spec.files.items()
                    if content == "s3cret-value"}
    assert secret_files and set(secret_files.values()) == {0o640}, spec.files
    mounts = _flag_values(spec.args, "-v")
    assert any(m.endswith(":ro") and str(next(iter(secret_files)).parent) == m.split(":")[0]
               for m in mounts), mounts
    write_files(spec, tmp_path)
    env_file = Path(_flag_values(spec.args, "--env-file")[0])
    assert env_file.stat().st_mode & 0o777 == 0o600
    for f in secret_files:
        assert f.read_text() == "s3cret-value" and f.stat().st_mode & 0o777 == 0o640
