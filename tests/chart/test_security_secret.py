"""The chart's Spark security Secret and who gets which of its keys, as files (docs/security.md).

Rendered with the real Helm engine. What the pods do with the files (the entrypoint, the API)
is tested on real JVMs in tests/spark/test_security.py.
"""
from __future__ import annotations

import base64
import re

import pytest

from simulator.render import RenderError, render

from .chartlib import component, containers, env_value, find, pod_spec

MOUNT = "/etc/spark-security"


def secret_items(obj: dict) -> dict[str, list[str]]:
    """secret name -> [(key) ...] of every Spark-security Secret volume mounted by the pod's
    main container (the API's owner secret, a volume of its own, is not one of them)."""
    spec = pod_spec(obj)
    [main] = list(containers(spec))[:1]
    mounted = {m["name"]: m for m in main.get("volumeMounts") or []}
    out = {}
    for vol in spec.get("volumes") or []:
        if "secret" in vol and vol["name"] in mounted and vol["name"] != "owner-secret":
            assert mounted[vol["name"]].get("readOnly") is True, vol["name"]
            out[vol["secret"]["secretName"]] = [i["key"] for i in vol["secret"].get("items", [])]
    return out


def main_container(obj: dict) -> dict:
    return list(containers(pod_spec(obj)))[0]


def by_component(rendered, name: str) -> dict:
    [obj] = [o for o in find(rendered, "Deployment") if component(o) == name
             or (name == "api" and "api-service" in o["metadata"]["name"])]
    return obj


def test_default_full_stack_generates_the_secret_and_hands_out_only_what_each_pod_needs() -> None:
    rendered = render(release="full-stack")
    [secret] = [s for s in rendered.objects("Secret") if s["metadata"]["name"]
                == "full-stack-spark-security"]
    keys = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(keys) == {"rpc-secret", "rest-jws-key"}
    # The REST key is what Spark's JWSFilter and the API decode: base64url, >= 256 bits.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", keys["rest-jws-key"])
    assert len(keys["rpc-secret"]) >= 32
    master, worker = by_component(rendered, "master"), by_component(rendered, "worker")
    api = by_component(rendered, "api")
    name = "full-stack-spark-security"
    assert secret_items(master) == {name: ["rpc-secret", "rest-jws-key"]}
    # Workers run job code: they never get the REST key. The API never gets the RPC secret.
    assert secret_items(worker) == {name: ["rpc-secret"]}
    assert secret_items(api) == {name: ["rest-jws-key"]}
    assert env_value(main_container(master), "SPARK_AUTH_SECRET_FILE") == f"{MOUNT}/rpc-secret"
    assert env_value(main_container(master), "SPARK_REST_JWS_KEY_FILE") == f"{MOUNT}/rest-jws-key"
    assert env_value(main_container(worker), "SPARK_AUTH_SECRET_FILE") == f"{MOUNT}/rpc-secret"
    assert env_value(main_container(worker), "SPARK_REST_JWS_KEY_FILE") is None
    assert env_value(main_container(api), "SPARK_API_REST_JWS_KEY_FILE") == \
        f"{MOUNT}/rest-jws-key"
    assert env_value(main_container(api), "SPARK_API_SPARK_AUTHENTICATE") == "true"
    # No secret value ever sits in an env value.
    for obj in (master, worker, api):
        for env in main_container(obj).get("env") or []:
            assert env.get("value") not in keys.values()


def test_an_existing_secret_is_used_by_every_pod_and_none_is_generated() -> None:
    rendered = render(release="rel", set_values=[
        "spark-job.security.existingSecret=ops-spark-keys",
        "api-service.sparkSecurity.existingSecret=ops-spark-keys"])
    assert not [s for s in rendered.objects("Secret") if "spark-security" in s["metadata"]["name"]]
    for name in ("master", "worker", "api"):
        assert list(secret_items(by_component(rendered, name))) == ["ops-spark-keys"]


def test_switched_off_nothing_is_mounted_or_generated() -> None:
    rendered = render(release="rel", set_values=[
        "spark-job.security.authenticate=false", "spark-job.security.restAuth=false",
        "api-service.sparkSecurity.restAuth=false", "api-service.sparkSecurity.authenticate=false"])
    assert not [s for s in rendered.objects("Secret") if "spark-security" in s["metadata"]["name"]]
    for name in ("master", "worker", "api"):
        obj = by_component(rendered, name)
        assert secret_items(obj) == {}
        assert not [e for e in main_container(obj).get("env") or []
                    if e["name"] in ("SPARK_AUTH_SECRET_FILE", "SPARK_REST_JWS_KEY_FILE",
                                     "SPARK_API_REST_JWS_KEY_FILE")]
    assert env_value(main_container(by_component(rendered, "api")),
                     "SPARK_API_SPARK_AUTHENTICATE") == "false"


def test_rest_auth_alone_still_generates_the_secret_for_the_master_and_api() -> None:
    rendered = render(release="rel", set_values=["spark-job.security.authenticate=false",
                                                 "api-service.sparkSecurity.authenticate=false"])
    assert secret_items(by_component(rendered, "master")) == {"rel-spark-security":
                                                              ["rest-jws-key"]}
    assert secret_items(by_component(rendered, "worker")) == {}


def test_service_only_names_the_external_clusters_secret() -> None:
    # The API of a release without Spark uses `<release>-spark-security` unless told otherwise:
    # that Secret must come from whoever runs the external cluster (chart README).
    common = ["tags.install-spark=false",
              "api-service.env.sparkMasterUrl=spark://external-master:7077"]
    rendered = render(release="my-service", set_values=common)
    assert not [s for s in rendered.objects("Secret") if "spark-security" in s["metadata"]["name"]]
    assert secret_items(by_component(rendered, "api")) == {"my-service-spark-security":
                                                           ["rest-jws-key"]}
    rendered = render(release="my-service", set_values=common + [
        "api-service.sparkSecurity.existingSecret=external-spark-keys"])
    assert list(secret_items(by_component(rendered, "api"))) == ["external-spark-keys"]


@pytest.mark.parametrize(("sets", "field"), [
    (["spark-job.security.authenticate=maybe"], "authenticate"),
    (["spark-job.security.restauth=true"], "restauth"),
    (["spark-job.security.existingSecret=Not_A_Name"], "existingSecret"),
    (["api-service.sparkSecurity.restAuth=yes-please"], "restAuth"),
    (["api-service.sparkSecurity.secret=x"], "secret"),
])
def test_bad_security_values_are_refused_naming_the_field(sets, field) -> None:
    with pytest.raises(RenderError) as refused:
        render(set_values=sets, release="bad", validate=False)
    assert field in str(refused.value), str(refused.value)
