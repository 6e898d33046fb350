"""The values users of well-kept charts expect (issue 11): each renders, each bad form is refused.

Probes per container, extraEnv/extraEnvFrom/extraVolumes/extraVolumeMounts, image registry and
digest, global.imageRegistry/imagePullSecrets, priorityClassName, topologySpreadConstraints,
podLabels, commonLabels and the `helm test` pods.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.render import Rendered, RenderError, render

from .chartlib import chart_of, component, containers, pod_labels, pod_spec, workloads

SUBCHARTS = ("spark-job", "api-service")
DIGEST = "sha256:" + "ab" * 32


def _render(values: dict[str, Any], **kw: Any) -> Rendered:
    return render(values=values, release="rel", **kw)


def _main_containers(r: Rendered, sub: str) -> list[dict[str, Any]]:
    """The chart's own main containers (not the oauth-proxy sidecar, not test pods)."""
    return [c for w in workloads(r) if chart_of(w) == sub
            for c in pod_spec(w)["containers"] if c["name"] != "oauth-proxy"]


def _pods(r: Rendered, sub: str) -> list[dict[str, Any]]:
    return [pod_spec(w) for w in workloads(r) if chart_of(w) == sub]


def _container(r: Rendered, name: str) -> dict[str, Any]:
    [c] = [c for w in workloads(r) for c in pod_spec(w)["containers"] if c["name"] == name]
    return c


# --- probes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path,container", [
    (("spark-job", "spark", "master", "probes"), "master"),
    (("spark-job", "spark", "worker", "probes"), "worker"),
    (("api-service", "probes"), "api"),
])
def test_probes_follow_their_values(path: tuple[str, ...], container: str) -> None:
    def nest(leaf: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = leaf
        for key in reversed(path):
            out = {key: out}
        return out

    default = _container(_render({}), container)
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= default.keys()
    r = _render(nest({"startup": {"enabled": False},
                      "readiness": {"periodSeconds": 7, "failureThreshold": 9,
                                    "successThreshold": 2, "initialDelaySeconds": 4},
                      "liveness": {"timeoutSeconds": 11}}))
    c = _container(r, container)
    assert "startupProbe" not in c
    ready = c["readinessProbe"]
    assert (ready["periodSeconds"], ready["failureThreshold"], ready["successThreshold"],
            ready["initialDelaySeconds"]) == (7, 9, 2, 4)
    # the handler stays the chart's
    assert ready.keys() & {"httpGet", "tcpSocket"} == default["readinessProbe"].keys() & {
        "httpGet", "tcpSocket"}
    assert c["livenessProbe"]["timeoutSeconds"] == 11


def test_proxy_probes_follow_their_values() -> None:
    r = render(set_values=["api-service.oauth.mode=openshift-proxy",
                           "api-service.oauth.proxy.probes.liveness.enabled=false",
                           "api-service.oauth.proxy.probes.readiness.periodSeconds=5"],
               release="rel", openshift=True)
    proxy = _container(r, "oauth-proxy")
    assert "livenessProbe" not in proxy
    assert proxy["readinessProbe"]["periodSeconds"] == 5
    assert proxy["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    api = _container(r, "api")
    assert not api.keys() & {"startupProbe", "readinessProbe", "livenessProbe"}


# --- extra env, envFrom, volumes, mounts --------------------------------------------------------

@pytest.mark.parametrize("sub", SUBCHARTS)
def test_extra_env_envfrom_volumes_and_mounts(sub: str) -> None:
    values = {sub: {
        "extraEnv": [{"name": "EXTRA_ONE", "value": "1"},
                     {"name": "EXTRA_TWO", "valueFrom": {"secretKeyRef": {"name": "s",
                                                                          "key": "k"}}}],
        "extraEnvFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"},
                                                            "prefix": "S_"}],
        "extraVolumes": [{"name": "extra", "configMap": {"name": "cm"}}],
        "extraVolumeMounts": [{"name": "extra", "mountPath": "/etc/extra", "readOnly": True}],
    }}
    r = _render(values)
    mains = _main_containers(r, sub)
    assert mains
    for c in mains:
        names = [e["name"] for e in c["env"]]
        assert names[-2:] == ["EXTRA_ONE", "EXTRA_TWO"], names  # after the chart's own
        assert c["envFrom"] == values[sub]["extraEnvFrom"]
        assert {"name": "extra", "mountPath": "/etc/extra", "readOnly": True} in c["volumeMounts"]
    for spec in _pods(r, sub):
        assert {"name": "extra", "configMap": {"name": "cm"}} in spec["volumes"]


# --- images -----------------------------------------------------------------------------------

def _images(r: Rendered) -> dict[str, str]:
    return {c["name"]: c["image"] for w in workloads(r, hooks=True)
            for c in containers(pod_spec(w))}


def test_image_registry_digest_and_global_registry() -> None:
    r = _render({"spark-job": {"image": {"registry": "reg.example:5000", "digest": DIGEST}},
                 "api-service": {"image": {"registry": "reg.example", "tag": "1.2.3"}}})
    images = _images(r)
    assert images["master"] == f"reg.example:5000/spark-stack/spark-job@{DIGEST}"
    assert images["alive-workers"] == images["master"]  # the helm test pod too
    assert images["api"] == "reg.example/spark-stack/api-service:1.2.3"
    mirrored = _render({"global": {"imageRegistry": "mirror.example/m"},
                        "spark-job": {"image": {"registry": "reg.example"}}})
    images = _images(mirrored)
    assert images["worker"] == "mirror.example/m/spark-stack/spark-job:0.1.0"
    assert images["api"] == "mirror.example/m/spark-stack/api-service:0.1.0"
    proxy = render(set_values=["api-service.oauth.mode=openshift-proxy",
                               f"api-service.oauth.proxy.image.digest={DIGEST}"],
                   release="rel", openshift=True)
    assert _images(proxy)["oauth-proxy"] == f"quay.io/openshift/origin-oauth-proxy@{DIGEST}"


def test_pull_secrets_global_then_own_deduplicated() -> None:
    r = _render({"global": {"imagePullSecrets": ["mirror", {"name": "shared"}]},
                 "spark-job": {"imagePullSecrets": [{"name": "shared"}, "spark"]},
                 "api-service": {"imagePullSecrets": ["api"]}})
    for w in workloads(r, hooks=True):
        secrets = [s["name"] for s in pod_spec(w)["imagePullSecrets"]]
        own = "spark" if chart_of(w) == "spark-job" else "api"
        assert secrets == (["mirror", "shared", own] if own == "spark"
                           else ["mirror", "shared", "api"]), (w["metadata"]["name"], secrets)
    assert all("imagePullSecrets" not in pod_spec(w) for w in workloads(_render({}), hooks=True))


# --- scheduling and labels ----------------------------------------------------------------------

@pytest.mark.parametrize("sub", SUBCHARTS)
def test_priority_class_and_topology_spread(sub: str) -> None:
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
               "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "rel"}}}]
    r = _render({sub: {"priorityClassName": "batch-low", "topologySpreadConstraints": spread}})
    specs = _pods(r, sub)
    assert specs
    for spec in specs:
        assert spec["priorityClassName"] == "batch-low"
        assert spec["topologySpreadConstraints"] == spread
    for other in set(SUBCHARTS) - {sub}:
        assert all("priorityClassName" not in s for s in _pods(r, other))


@pytest.mark.parametrize("sub", SUBCHARTS)
def test_common_labels_on_every_object_and_pod_labels_on_pods(sub: str) -> None:
    r = _render({sub: {"commonLabels": {"team": "data", "cost-center": "42"},
                       "podLabels": {"sidecar.istio.io/inject": "false"}}})
    objs = [m.obj for m in r.manifests if chart_of(m.obj) == sub]
    assert objs
    for o in objs:
        assert o["metadata"]["labels"]["team"] == "data", (o["kind"], o["metadata"]["name"])
        assert o["metadata"]["labels"]["cost-center"] == "42"
    for w in workloads(r):
        if chart_of(w) == sub:
            labels = pod_labels(w)
            assert labels["sidecar.istio.io/inject"] == "false" and labels["team"] == "data"
            selector = w["spec"]["selector"]["matchLabels"]
            assert selector.items() <= labels.items()


# --- helm test pods -----------------------------------------------------------------------------

def _test_pods(r: Rendered) -> dict[str, dict[str, Any]]:
    return {chart_of(m.obj): m.obj for m in r.manifests if m.is_hook}


def test_helm_test_pods_for_each_piece() -> None:
    full = _test_pods(_render({}))
    assert full.keys() == {"spark-job", "api-service"}
    spark_only = _test_pods(render(set_values=["tags.install-service=false",
                                               "spark-job.spark.worker.replicas=3"],
                                   release="spark-cluster"))
    assert spark_only.keys() == {"spark-job"}
    pod = spark_only["spark-job"]
    script = pod["spec"]["containers"][0]["command"][-1]
    assert '"http://spark-cluster-spark-master:8080/json/"' in script and "\nwant = 3\n" in script
    for p in list(full.values()) + [pod]:
        ann = p["metadata"]["annotations"]
        assert ann["helm.sh/hook"] == "test"
        assert "hook-succeeded" in ann["helm.sh/hook-delete-policy"]
        assert component(p) == "test"
    off = _test_pods(_render({"spark-job": {"test": {"enabled": False}},
                              "api-service": {"test": {"enabled": False}}}))
    assert off == {}


def test_no_label_key_appears_twice_in_any_rendered_document() -> None:
    # yamllint's key-duplicates: PyYAML keeps the last duplicate silently, so parse the text.
    import yaml

    class Strict(yaml.SafeLoader):
        pass

    def no_dupes(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        keys = [loader.construct_object(k) for k, _ in node.value]
        assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, no_dupes)
    r = _render({"spark-job": {"commonLabels": {"a": "b"}},
                 "api-service": {"podLabels": {"c": "d"}}})
    for doc in yaml.load_all(r.to_yaml(), Loader=Strict):
        assert doc is not None


# --- refusals -----------------------------------------------------------------------------------

BAD = {
    "probe unknown key": ({"api-service": {"probes": {"readiness": {"period": 3}}}}, "period"),
    "probe zero period": ({"spark-job": {"spark": {"master": {"probes": {
        "liveness": {"periodSeconds": 0}}}}}}, "periodSeconds"),
    "liveness successThreshold": ({"spark-job": {"spark": {"worker": {"probes": {
        "liveness": {"successThreshold": 2}}}}}}, "successThreshold"),
    "probe enabled not bool": ({"api-service": {"probes": {"startup": {"enabled": "no"}}}},
                               "enabled"),
    "extraEnv without name": ({"spark-job": {"extraEnv": [{"value": "x"}]}}, "extraEnv"),
    "extraEnv number value": ({"api-service": {"extraEnv": [{"name": "A", "value": 1}]}},
                              "extraEnv"),
    "extraEnv value and valueFrom": ({"api-service": {"extraEnv": [
        {"name": "A", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}},
        "extraEnv"),
    "extraEnvFrom unknown source": ({"spark-job": {"extraEnvFrom": [{"mapRef": {"name": "x"}}]}},
                                    "extraEnvFrom"),
    "extraVolumes hostPath": ({"spark-job": {"extraVolumes": [
        {"name": "h", "hostPath": {"path": "/"}}]}}, "extraVolumes"),
    "extraVolumes no source": ({"api-service": {"extraVolumes": [{"name": "h"}]}},
                               "extraVolumes"),
    "extraVolumeMounts relative": ({"api-service": {"extraVolumeMounts": [
        {"name": "h", "mountPath": "etc"}]}}, "mountPath"),
    "image digest not sha256": ({"spark-job": {"image": {"digest": "latest"}}}, "digest"),
    "image registry with scheme": ({"api-service": {"image": {"registry": "https://r.io"}}},
                                   "registry"),
    "global registry with scheme": ({"global": {"imageRegistry": "http://mirror"}},
                                    "imageRegistry"),
    "global pull secret bad name": ({"global": {"imagePullSecrets": ["Not Valid"]}},
                                    "imagePullSecrets"),
    "priorityClassName upper case": ({"spark-job": {"priorityClassName": "High"}},
                                     "priorityClassName"),
    "spread without topologyKey": ({"api-service": {"topologySpreadConstraints": [
        {"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}]}}, "topologySpreadConstraints"),
    "spread bad policy": ({"spark-job": {"topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}]}},
        "whenUnsatisfiable"),
    "commonLabels overriding name": ({"spark-job": {"commonLabels": {
        "app.kubernetes.io/name": "x"}}}, "commonLabels"),
    "podLabels overriding instance": ({"api-service": {"podLabels": {
        "app.kubernetes.io/instance": "x"}}}, "podLabels"),
    "commonLabels non-string value": ({"api-service": {"commonLabels": {"a": 1}}},
                                      "commonLabels"),
    "test timeout too short": ({"spark-job": {"test": {"timeoutSeconds": 1}}}, "timeoutSeconds"),
}


@pytest.mark.parametrize("values,field", BAD.values(), ids=BAD.keys())
def test_bad_forms_are_refused_naming_the_value(values: dict[str, Any], field: str) -> None:
    with pytest.raises(RenderError) as refused:
        render(values=values, release="bad", validate=False)
    assert field in str(refused.value), str(refused.value)


@pytest.mark.parametrize("values,field", [
    v for k, v in BAD.items() if not k.startswith("global")], ids=[
    k for k in BAD if not k.startswith("global")])
def test_bad_forms_are_refused_even_with_the_subchart_tag_off(values: dict[str, Any],
                                                             field: str) -> None:
    # Helm skips a tag-disabled subchart's own schema: the umbrella's embedded copy refuses.
    sub = next(iter(values))
    tag = {"spark-job": "install-spark", "api-service": "install-service"}[sub]
    off = {"tags": {tag: False}, **json.loads(json.dumps(values))}
    if sub == "spark-job":
        off["api-service"] = {"env": {"sparkMasterUrl": "spark://elsewhere:7077"}}
    with pytest.raises(RenderError) as refused:
        render(values=off, release="bad", validate=False)
    assert field in str(refused.value), str(refused.value)


def test_a_good_value_for_a_tag_disabled_subchart_is_accepted() -> None:
    # Helm adds no defaults for a disabled subchart: the umbrella must not require keys the
    # user did not set (e.g. a probe's `enabled`, an image's `repository`).
    render(values={"tags": {"install-service": False},
                   "api-service": {"probes": {"readiness": {"periodSeconds": 5}},
                                   "image": {"tag": "1.0"}, "env": {"sparkMasterUrl":
                                                                    "spark://x:7077"}}},
           release="ok")


def test_no_service_pdb_or_policy_selects_a_helm_test_pod() -> None:
    from .test_security import _selects  # the NetworkPolicy selector semantics

    r = _render({"api-service": {"pdb": {"enabled": True}}, "spark-job": {"pdb": {
        "enabled": True}}})
    tests = [m.obj for m in r.manifests if m.is_hook]
    assert tests
    for obj in r.objects(hooks=False):
        selector = None
        if obj["kind"] == "Service":
            selector = {"matchLabels": obj["spec"]["selector"]}
        elif obj["kind"] in ("PodDisruptionBudget",):
            selector = obj["spec"]["selector"]
        elif obj["kind"] == "NetworkPolicy":
            selector = obj["spec"]["podSelector"]
        if selector:
            for t in tests:
                assert not _selects(selector, t["metadata"]["labels"]), (
                    obj["kind"], obj["metadata"]["name"], t["metadata"]["name"])
