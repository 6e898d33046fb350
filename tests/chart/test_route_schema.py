"""The project's Route schema agrees with OpenShift's own CRD.

The CRD is openshift/api's ``route/v1/zz_generated.crd-manifests/route.openshift.io_v1_routes
.crd.yaml`` (Apache-2.0); give its path in ``SPARK_STACK_ROUTE_CRD`` to run the cross-check.
The CRD's openAPIV3Schema is turned into JSON Schema the way OpenShift documents it (nullable → null
type, int-or-string, "no unknown fields" only on real object schemas, CRD defaults applied
first as the API server does); then generated Routes must get the same verdict from both. The
CEL rules the CRD carries are checked by our schema alone, so they get their own tests.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, strategies as st

from simulator.validate import validate_object

CRD = Path(os.environ.get("SPARK_STACK_ROUTE_CRD", "route.openshift.io_v1_routes.crd.yaml"))


def _to_json_schema(node: Any, *, in_combinator: bool = False) -> Any:
    if isinstance(node, list):
        return [_to_json_schema(n, in_combinator=in_combinator) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
                   "x-kubernetes-map-type", "default", "nullable", "x-kubernetes-int-or-string",
                   "x-kubernetes-preserve-unknown-fields", "description", "format"):
            continue
        if key in ("anyOf", "allOf", "oneOf", "not"):
            out[key] = _to_json_schema(value, in_combinator=True)
        elif key == "properties":
            out[key] = {k: _to_json_schema(v) for k, v in value.items()}
        else:
            out[key] = _to_json_schema(value, in_combinator=in_combinator)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (not in_combinator and node.get("type") == "object" and "properties" in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def _apply_defaults(schema: dict[str, Any], obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    for key, sub in (schema.get("properties") or {}).items():
        if key not in obj and "default" in sub:
            obj[key] = copy.deepcopy(sub["default"])
        if key in obj:
            if isinstance(obj[key], list) and "items" in sub:
                obj[key] = [_apply_defaults(sub["items"], i) for i in obj[key]]
            else:
                obj[key] = _apply_defaults(sub, obj[key])
    return obj


@pytest.fixture(scope="module")
def crd_schema() -> dict[str, Any]:
    if not CRD.exists():
        pytest.skip(f"OpenShift's Route CRD is not at {CRD}: set SPARK_STACK_ROUTE_CRD to a copy "
                    f"of openshift/api's route.openshift.io_v1_routes.crd.yaml")
    crd = yaml.safe_load(CRD.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _crd_ok(crd_schema: dict[str, Any], route: dict[str, Any]) -> bool:
    obj = _apply_defaults(crd_schema, copy.deepcopy(route))
    spec_schema = _to_json_schema(crd_schema["properties"]["spec"])
    return jsonschema.Draft202012Validator(spec_schema).is_valid(obj["spec"])


names = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
hosts = st.one_of(st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,8}){1,3}",
                                fullmatch=True),
                  st.sampled_from(["-bad.example.com", "UPPER_case", "a..b", ""]))
tls = st.one_of(st.none(), st.fixed_dictionaries(
    {"termination": st.sampled_from(["edge", "reencrypt", "passthrough", "bogus"])},
    optional={"insecureEdgeTerminationPolicy": st.sampled_from(["Redirect", "None", "Allow", "Disable", ""]),
              "certificate": st.just("-----BEGIN CERTIFICATE-----")}))
specs = st.fixed_dictionaries(
    {"to": st.fixed_dictionaries({"kind": st.sampled_from(["Service", "", "Pod"]), "name": names},
                                 optional={"weight": st.integers(-5, 300)})},
    optional={"host": hosts, "path": st.sampled_from(["/", "/api", "nope"]),
              "port": st.fixed_dictionaries({"targetPort": st.one_of(st.integers(1, 65535), names)}),
              "tls": tls, "wildcardPolicy": st.sampled_from(["None", "Subdomain", "Sometimes"])})


@given(specs)
def test_our_route_schema_agrees_with_the_crd(crd_schema: dict[str, Any], spec: dict) -> None:
    spec = {k: v for k, v in spec.items() if v is not None}
    route = {"apiVersion": "route.openshift.io/v1", "kind": "Route",
             "metadata": {"name": "r"}, "spec": spec}
    cel_forbidden = spec.get("tls", {}).get("termination") == "passthrough" and (
        spec["tls"].get("insecureEdgeTerminationPolicy") == "Allow")
    ours = not validate_object(route, "v1.33.0")
    if cel_forbidden:
        assert not ours
    else:
        assert ours == _crd_ok(crd_schema, route), validate_object(route, "v1.33.0")


def test_cel_rules_are_enforced_by_our_schema() -> None:
    base = {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "r"},
            "spec": {"to": {"kind": "Service", "name": "s"}}}
    bad = copy.deepcopy(base)
    bad["spec"]["tls"] = {"termination": "passthrough", "insecureEdgeTerminationPolicy": "Allow"}
    issues = validate_object(bad, "v1.33.0")
    assert issues and "passthrough" in issues[0].message
    both = copy.deepcopy(base)
    both["spec"]["tls"] = {"termination": "edge", "certificate": "x",
                           "externalCertificate": {"name": "c"}}
    assert validate_object(both, "v1.33.0")
    assert validate_object(base, "v1.33.0") == []
