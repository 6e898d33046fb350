"""The topology is built from manifests alone: valueFrom, fieldRef, Service names, not-honored notes.

No JVM here. Hand-written manifests cover the corners the chart may not use (stringData,
configMapKeyRef, a named targetPort); ``test_rendered_chart_topology`` checks the real chart.
"""
from __future__ import annotations

import base64

import pytest

from simulator import topology
from simulator.topology import TopologyError, build, resolve_hosts, secret_manifest


def _deployment(name, labels, env, *, replicas=1, image="reg/x/spark-job:4.3.0", args=("worker",),
                probe=None, volumes=(), mounts=(), init=False, ports=()):
    pod = {"containers": [{"name": "main", "image": image, "args": list(args), "env": env,
                           "ports": list(ports), "volumeMounts": list(mounts),
                           **({"readinessProbe": probe} if probe else {})}],
           "volumes": list(volumes)}
    if init:
        pod["initContainers"] = [{"name": "wait", "image": "busybox"}]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}


def _service(name, selector, ports, headless=False):
    spec = {"selector": selector, "ports": ports}
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


MASTER = {"app.kubernetes.io/name": "spark", "app.kubernetes.io/component": "master"}
WORKER = {"app.kubernetes.io/name": "spark", "app.kubernetes.io/component": "worker"}


def _manifests():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "data": {"token": base64.b64encode(b"s3cr3t").decode()},
              "stringData": {"plain": "p"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
          "data": {"mode": "fast"}}
    env = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
        {"name": "PLAIN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "plain"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "mode"}}},
        {"name": "SPARK_MASTER_URL", "value": "spark://rel-master:7077"},
    ]
    probe = {"httpGet": {"path": "/json/", "port": "http"}}
    return [
        secret, cm,
        _service("rel-master", MASTER, [{"name": "rpc", "port": 7077, "targetPort": "rpc"},
                                        {"name": "http", "port": 80, "targetPort": 8080}]),
        _service("rel-master-headless", MASTER, [{"port": 7077}], headless=True),
        _deployment("rel-master", MASTER, [{"name": "X", "value": "1"}], args=("master",),
                    ports=[{"name": "rpc", "containerPort": 7077},
                           {"name": "http", "containerPort": 8080}], probe=probe),
        _deployment("rel-worker", WORKER, env, replicas=3,
                    volumes=[{"name": "work", "emptyDir": {}},
                             {"name": "data", "persistentVolumeClaim": {"claimName": "d"}},
                             {"name": "host", "hostPath": {"path": "/var/x"}}],
                    mounts=[{"name": "work", "mountPath": "/work"},
                            {"name": "data", "mountPath": "/data"},
                            {"name": "host", "mountPath": "/host"}],
                    init=True),
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "np"}, "spec": {}},
        {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "r"},
         "spec": {}},
    ]


def test_workloads_and_replicas_come_from_manifests():
    topo = build(_manifests())
    assert [w.name for w in topo.workloads] == ["rel-master", "rel-worker"]
    worker = topo.workload("rel-worker")
    assert worker.replicas == 3 and worker.component == "worker"
    assert worker.pod_names() == ["rel-worker-0", "rel-worker-1", "rel-worker-2"]
    assert worker.main.image_repo == "reg/x/spark-job"


def test_value_from_secret_configmap_and_field_refs():
    env = {e.name: e for e in build(_manifests()).workload("rel-worker").main.env}
    assert env["TOKEN"].value == "s3cr3t" and env["TOKEN"].secret
    assert env["PLAIN"].value == "p"
    assert env["MODE"].value == "fast" and not env["MODE"].secret
    assert env["POD_IP"].resolve("rel-worker-1", "127.9.9.3", "ns1") == "127.9.9.3"
    assert env["POD_NAME"].resolve("rel-worker-1", "127.9.9.3", "ns1") == "rel-worker-1"
    assert env["NS"].resolve("rel-worker-1", "127.9.9.3", "ns1") == "ns1"


def test_missing_secret_key_names_the_reference():
    objs = _manifests()
    objs[4]["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope"}}}]
    with pytest.raises(TopologyError, match="'nope'"):
        build(objs)


def test_extra_objects_resolve_but_are_not_part_of_the_release():
    objs = _manifests()
    objs[4]["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "OWNER", "valueFrom": {"secretKeyRef": {"name": "owner", "key": "key"}}}]
    with pytest.raises(TopologyError, match="owner"):
        build(objs)
    topo = build(objs, extra_objects=[secret_manifest("owner", "default", {"key": "k1"})])
    assert topo.workload("rel-master").main.env[0].value == "k1"


def test_services_headless_selector_and_named_target_port():
    topo = build(_manifests())
    svc = topo.service("rel-master")
    assert not svc.headless and topo.service("rel-master-headless").headless
    assert [w.name for w in topo.endpoints_of(svc)] == ["rel-master"]
    master = topo.workload("rel-master").main
    assert master.port_number(svc.ports[0].target_port) == 7077
    assert master.port_number(svc.ports[1].target_port) == 8080
    assert master.readiness.kind == "httpGet" and master.readiness.port == 8080


def test_resolve_hosts_every_spelling_and_not_inside_longer_names():
    topo = build(_manifests())
    addrs = {"rel-master": "127.1.1.200", "rel-master-headless": "127.1.1.10"}
    for host in ("rel-master", "rel-master.default", "rel-master.default.svc",
                 "rel-master.default.svc.cluster.local"):
        assert resolve_hosts(f"spark://{host}:7077", addrs, topo.services) == \
            "spark://127.1.1.200:7077"
    assert resolve_hosts("http://rel-master/x", addrs, topo.services) == "http://127.1.1.200/x"
    assert resolve_hosts("rel-master-headless:7077", addrs, topo.services) == "127.1.1.10:7077"
    assert resolve_hosts("other-rel-master:1", addrs, topo.services) == "other-rel-master:1"


def test_start_order_follows_service_references():
    waves = build(_manifests()).start_order()
    assert [[w.name for w in wave] for wave in waves] == [["rel-master"], ["rel-worker"]]


def test_not_honored_is_reported():
    notes = [str(n) for n in build(_manifests()).notes]
    text = "\n".join(notes)
    assert "initContainer wait" in text
    assert "hostPath volumes are not honored" in text
    assert "NetworkPolicy/np" in text and "Route/r" in text


def test_a_claim_is_honored_as_a_directory_of_the_run():
    topo = build(_manifests())
    [data] = [m for m in topo.workload("rel-worker").main.mounts if m.name == "data"]
    assert (data.kind, data.claim) == ("persistentVolumeClaim", "d")
    assert not any("persistentVolumeClaim volumes" in str(n) for n in topo.notes)


def test_template_hash_changes_with_the_template_only():
    a = build(_manifests()).workload("rel-worker")
    objs = _manifests()
    objs[5]["spec"]["replicas"] = 1
    b = build(objs).workload("rel-worker")
    assert a.template_hash == b.template_hash and b.replicas == 1
    objs[5]["spec"]["template"]["spec"]["containers"][0]["args"] = ["worker", "--x"]
    assert build(objs).workload("rel-worker").template_hash != a.template_hash


def test_unknown_field_ref_is_a_note():
    objs = _manifests()
    objs[4]["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    topo = build(objs)
    assert any("spec.nodeName" in str(n) for n in topo.notes)
    assert topology.FIELD_REFS == ("status.podIP", "metadata.name", "metadata.namespace")


def test_rendered_chart_topology():
    """The real chart through the real Helm engine: the master is found by its headless Service,
    the API's owner secret comes from the Secret created outside the release."""
    from simulator import render

    rendered = render.render(render.CHART_DIR, (), [
        "api-service.ownerSecret.existingSecret=own", "spark-job.spark.worker.replicas=3"],
        release="rel")
    topo = build(rendered.objects(hooks=False),
                 extra_objects=[secret_manifest("own", "default", {"owner-secret": "k"})])
    comps = sorted(w.component for w in topo.workloads)
    assert comps == ["api", "master", "worker"]
    worker = topo.by_component("worker")[0]
    assert worker.replicas == 3
    master_svcs = [s for s in topo.referenced_services(worker)]
    assert [s.name for s in master_svcs] == ["rel-spark-master"] and master_svcs[0].headless
    api = topo.by_component("api")[0]
    env = {e.name: e for e in api.main.env}
    # The owner secret is a mounted Secret file, never an env var (issue 9 item 5).
    assert "SPARK_API_OWNER_SECRET" not in env
    path = env["SPARK_API_OWNER_SECRET_FILE"].value
    [mount] = [m for m in api.main.mounts if path.startswith(m.mount_path.rstrip("/") + "/")]
    assert mount.kind == "secret" and dict(mount.files)[path[len(mount.mount_path) + 1:]] == "k"
    assert env["SPARK_API_HOST"].field_ref == "status.podIP"
    waves = [[w.component for w in wave] for wave in topo.start_order()]
    assert waves[0] == ["master"] and sorted(waves[1]) == ["api", "worker"]
    assert any(n.subject.startswith("NetworkPolicy/") for n in topo.notes)
