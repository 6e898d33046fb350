"""Bad job specs are refused with 422/413 naming the field; no body ever produces a 500."""
from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import bearer


@pytest.fixture(scope="module")
def submit(api_nospark, token):
    headers = bearer(token("alice"))
    client = httpx.Client(base_url=api_nospark.url, headers=headers, timeout=30)
    yield lambda body, **kw: client.post("/v1/jobs", json=body, **kw)
    client.close()


@pytest.mark.parametrize("body,field,code", [
    ({"job": "nope"}, "job", "unknown_job"),
    ({}, "job", "invalid_request"),
    ({"job": 3}, "job", "invalid_request"),
    ({"job": "pi", "args": {"samples": "many"}}, "args.samples", "invalid_args"),
    ({"job": "pi", "args": {"samples": 1.5}}, "args.samples", "invalid_args"),
    ({"job": "pi", "args": {"samples": 0}}, "args.samples", "invalid_args"),
    ({"job": "pi", "args": {"samples": True}}, "args.samples", "invalid_args"),
    ({"job": "pi", "args": {"samplez": 10}}, "args.samplez", "invalid_args"),
    ({"job": "sleep", "args": {"seconds": -1}}, "args.seconds", "invalid_args"),
    ({"job": "wordcount", "args": {"text": ""}}, "args.text", "invalid_args"),
    ({"job": "pi", "args": [1, 2]}, "args", "invalid_request"),
    ({"job": "pi", "colour": "red"}, "colour", "invalid_request"),
    ({"job": "pi", "resources": {"gpus": 1}}, "resources.gpus", "invalid_request"),
    ({"job": "pi", "resources": {"driverMemory": "64g"}}, "resources.driverMemory",
     "resource_over_cap"),
    ({"job": "pi", "resources": {"executorMemory": "2g"}}, "resources.executorMemory",
     "resource_over_cap"),
    ({"job": "pi", "resources": {"driverMemory": "100m"}}, "resources.driverMemory",
     "resource_too_small"),
    ({"job": "pi", "resources": {"driverMemory": "lots"}}, "resources.driverMemory",
     "invalid_request"),
    ({"job": "pi", "resources": {"executorCores": 0}}, "resources.executorCores",
     "invalid_request"),
    ({"job": "pi", "resources": {"executorCores": 3, "maxCores": 4}},
     "resources.executorCores", "resource_over_cap"),
    ({"job": "pi", "resources": {"maxCores": 1000}}, "resources.maxCores", "resource_over_cap"),
    ({"job": "pi", "resources": {"executorCores": 2, "maxCores": 1}},
     "resources.executorCores", "invalid_resources"),
    # supervise is off unless SPARK_API_ALLOW_SUPERVISE; and a strict boolean ("yes", 1: 422)
    ({"job": "pi", "supervise": True}, "supervise", "supervise_not_allowed"),
    ({"job": "pi", "supervise": "yes"}, "supervise", "invalid_request"),
    ({"job": "pi", "supervise": 1}, "supervise", "invalid_request"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_spec_names_the_field(submit, body: dict, field: str, code: str) -> None:
    response = submit(body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert error["code"] == code
    assert error["message"]


def test_not_json_and_not_an_object(api_nospark, token) -> None:
    for raw in (b"{", b"[]", b"null", b"\xff\xfe"):
        response = httpx.post(api_nospark.url + "/v1/jobs", content=raw,
                              headers={**bearer(token("alice")),
                                       "content-type": "application/json"})
        assert response.status_code == 422, (raw, response.text)
        assert response.json()["error"]["field"]


@pytest.mark.parametrize("raw", [b'{"job": "sleep", "args": {"seconds": NaN}}',
                                 b'{"job": "sleep", "args": {"seconds": Infinity}}',
                                 b'{"job": "pi", "args": {"samples": -Infinity}}'])
def test_non_finite_numbers(api_nospark, token, raw: bytes) -> None:
    response = httpx.post(api_nospark.url + "/v1/jobs", content=raw,
                          headers={**bearer(token("alice")), "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"].startswith("args.")


def test_oversized_body_is_413(submit, api_nospark, token) -> None:
    response = submit({"job": "wordcount", "args": {"text": "word " * 20000}})
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "body"

    def chunks():  # no Content-Length: the limit holds on the stream too
        for _ in range(100):
            yield b" " * 1024

    response = httpx.post(api_nospark.url + "/v1/jobs", content=chunks(),
                          headers={**bearer(token("alice")), "content-type": "application/json"})
    assert response.status_code == 413


def test_valid_spec_without_a_master_is_503(submit) -> None:
    response = submit({"job": "pi", "args": {"samples": 100}})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "spark_unavailable" and "master" in error["message"]


_FOREIGN = "/v1/jobs/driver-20260101000000-0000.pi.AAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize("path", ["/v1/jobs/nope", "/v1/jobs/a.b.c", _FOREIGN,
                                  _FOREIGN + "/logs"])
def test_ids_that_are_not_ours_are_404(api_nospark, token, path: str) -> None:
    response = httpx.get(api_nospark.url + path, headers=bearer(token("alice")))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query,field", [("limit=0", "limit"), ("limit=101", "limit"),
                                         ("offset=-1", "offset"), ("limit=x", "limit")])
def test_bad_paging_is_422(api_nospark, token, query: str, field: str) -> None:
    response = httpx.get(f"{api_nospark.url}/v1/jobs?{query}", headers=bearer(token("alice")))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


_json = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
_spec = st.fixed_dictionaries(
    {"job": st.sampled_from(["pi", "wordcount", "sleep", "fail", "sql_aggregate", "x", ""])},
    optional={"args": st.dictionaries(
                  st.sampled_from(["samples", "text", "seconds", "rows", "partitions", "top",
                                   "bogus"]), _json, max_size=3) | _json,
              "resources": st.dictionaries(st.sampled_from(["driverMemory", "executorMemory",
                                                            "executorCores", "maxCores", "x"]),
                                           _json, max_size=3) | _json,
              "extra": _json})


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
          deadline=None)
@given(body=_json | _spec)
def test_arbitrary_bodies_never_500(submit, body) -> None:
    response = submit(body)
    # No master is reachable, so a valid spec gets 503: everything else is the client's mistake.
    assert response.status_code in (413, 422, 503), (json.dumps(body)[:300], response.text)
    assert "error" in response.json()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None,
          max_examples=50)
@given(path=st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]),
                    max_size=60))
def test_arbitrary_job_ids_never_500(api_nospark, token, path: str) -> None:
    response = httpx.get(api_nospark.url + "/v1/jobs/" + httpx.URL(path).path.lstrip("/"),
                         headers=bearer(token("alice")))
    # 503 only for the list endpoint (no master here); anything else is a 4xx or a redirect.
    assert response.status_code < 500 or response.status_code == 503, response.text
    assert response.status_code != 200



def test_openapi_documents_every_status_and_the_catalog(api_nospark, token) -> None:
    spec = httpx.get(api_nospark.url + "/openapi.json").json()
    paths = spec["paths"]
    for path, method in (("/v1/jobs/{job_id}", "get"), ("/v1/jobs/{job_id}", "delete"),
                         ("/v1/jobs/{job_id}/logs", "get")):
        assert {"401", "403", "404", "503"} <= set(paths[path][method]["responses"]), path
    assert "409" in paths["/v1/jobs/{job_id}"]["delete"]["responses"]
    assert {"413", "422", "503"} <= set(paths["/v1/jobs"]["post"]["responses"])
    assert "Retry-After" in paths["/v1/jobs"]["post"]["responses"]["503"]["headers"]
    # Errors have the one documented form, not FastAPI's HTTPValidationError.
    assert "HTTPValidationError" not in json.dumps(spec)
    variants = spec["components"]["schemas"]["JobSubmission"]["oneOf"]
    names = {name for v in variants for name in v["properties"]["job"]["enum"]}
    catalog = httpx.get(api_nospark.url + "/v1/catalog", headers=bearer(token("alice"))).json()
    assert names == {item["name"] for item in catalog}
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("path,method,allow", [("/v1/jobs", "PUT", "GET, POST"),
                                               ("/v1/jobs/x.y.z", "POST", "DELETE, GET"),
                                               ("/v1/catalog", "DELETE", "GET")])
def test_405_names_every_allowed_method(api_nospark, token, path, method, allow) -> None:
    response = httpx.request(method, api_nospark.url + path, headers=bearer(token("alice")))
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_log_offset_beyond_a_java_long_is_422(api_nospark, token) -> None:
    response = httpx.get(api_nospark.url + "/v1/jobs/x.y.z/logs",
                         params={"offset": 2**63}, headers=bearer(token("alice")))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "offset"


def test_deeply_nested_body_is_the_documented_422(submit) -> None:
    raw = '{"job": "pi", "args": ' + "[" * 100000 + "]" * 100000 + "}"
    response = submit(None, content=raw.encode(), headers={"content-type": "application/json"})
    assert response.status_code in (413, 422), response.text
    nested = '{"job": "pi", "args": {"a": ' + "[" * 5000 + "]" * 5000 + "}}"
    response = submit(None, content=nested.encode(),
                      headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["field"]


def test_over_long_string_parameter_is_422_naming_it(submit) -> None:
    response = submit({"job": "wordcount", "args": {"text": "a" * 6000}})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "args.text"
