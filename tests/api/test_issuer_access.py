"""The discovery-token rule and the subject-scope table, as pure functions (every branch).

The end-to-end behaviour is in test_serviceaccount_tokens.py; here each rule of
issuer_access.py and subject_scopes.py is checked directly, including the refusals.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from spark_api.issuer_access import IssuerAccess, TokenFileError
from spark_api.subject_scopes import SubjectScopes

ISSUER = "https://kubernetes.default.svc.cluster.local"
JWKS = "https://10.0.0.1:6443/openid/v1/jwks"


@pytest.fixture()
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("tok-1\n")
    return path


@pytest.mark.parametrize("url,jwks_uri,with_ca,allowed", [
    (ISSUER + "/.well-known/openid-configuration", None, False, True),
    ("https://KUBERNETES.default.svc.cluster.local:443/openid/v1/jwks", None, False, True),
    ("https://kubernetes.default.svc.cluster.local:6443/x", None, True, False),  # other port
    ("http://kubernetes.default.svc.cluster.local/x", None, True, False),  # never plain http
    (JWKS, JWKS, True, True),  # the host discovery names, verified by the cluster CA
    (JWKS, JWKS, False, False),  # public trust store: another host never gets it
    ("https://10.0.0.1:6443/other", JWKS, True, False),  # only the jwks_uri itself
    ("http://10.0.0.1:6443/openid/v1/jwks", "http://10.0.0.1:6443/openid/v1/jwks", True, False),
    ("https://evil.example/openid/v1/jwks", JWKS, True, False),
])
def test_token_rule(token_file: Path, tmp_path: Path, url: str, jwks_uri: str | None,
                    with_ca: bool, allowed: bool) -> None:
    access = IssuerAccess(ISSUER, tmp_path / "ca.crt" if with_ca else None, token_file)
    assert access.token_allowed(url, jwks_uri) is allowed
    assert access.headers(url, jwks_uri) == ({"Authorization": "Bearer tok-1"} if allowed else {})


def test_no_token_file_no_header() -> None:
    assert IssuerAccess(ISSUER).headers(ISSUER + "/.well-known/openid-configuration") == {}


def test_token_file_is_read_on_every_call_and_errors_name_it(token_file: Path) -> None:
    access = IssuerAccess(ISSUER, None, token_file)
    token_file.write_text("tok-2")
    assert access.headers(ISSUER) == {"Authorization": "Bearer tok-2"}
    token_file.write_text("  \n")
    with pytest.raises(TokenFileError, match="is empty"):
        access.headers(ISSUER)
    token_file.unlink()
    with pytest.raises(TokenFileError, match="SPARK_API_OIDC_DISCOVERY_TOKEN_FILE"):
        access.headers(ISSUER)


def test_subject_scopes_exact_beats_longest_prefix() -> None:
    table = SubjectScopes.parse('{"system:serviceaccount:a:*": "jobs:read jobs:submit",'
                                ' "system:serviceaccount:a:ro": "jobs:read",'
                                ' "system:serviceaccount:*": "jobs:read"}')
    assert table.scopes_for("system:serviceaccount:a:x") == {"jobs:read", "jobs:submit"}
    assert table.scopes_for("system:serviceaccount:a:ro") == {"jobs:read"}
    assert table.scopes_for("system:serviceaccount:b:x") == {"jobs:read"}
    assert table.scopes_for("alice") == frozenset()
    assert not SubjectScopes.parse("") and not SubjectScopes.parse({})


@pytest.mark.parametrize("raw,needle", [
    ("{nope", "not valid JSON"),
    ("[]", "must be a JSON object"),
    ({"a*b": "jobs:read"}, "only as its last character"),
    ({"**": "jobs:read"}, "only as its last character"),
    ({"": "jobs:read"}, "non-empty subject"),
    ({"a": ""}, "non-empty string"),
    ({"a": ["jobs:read"]}, "non-empty string"),
    ({"a": "jobs:write"}, "unknown scope(s) jobs:write"),
])
def test_subject_scopes_refusals_name_the_setting(raw, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        SubjectScopes.parse(raw)
    assert "SPARK_API_OIDC_SUBJECT_SCOPES" in str(info.value) and needle in str(info.value)


def _start_refused(env: dict[str, str]) -> str:
    from .helpers import OWNER_SECRET, dead_master_url
    from .test_settings_and_catalog import _run
    result = _run({"SPARK_API_MASTER_URL": dead_master_url(), "SPARK_API_OWNER_SECRET":
                   OWNER_SECRET, "SPARK_API_OIDC_AUDIENCE": "a", **env})
    assert result.returncode == 2, result.stderr
    return result.stderr


def test_refuses_a_discovery_token_for_a_plain_http_issuer(token_file: Path) -> None:
    stderr = _start_refused({"SPARK_API_OIDC_ISSUER": "http://127.0.0.1:1",
                             "SPARK_API_OIDC_DISCOVERY_TOKEN_FILE": str(token_file)})
    assert "SPARK_API_OIDC_DISCOVERY_TOKEN_FILE is only ever sent over https" in stderr
    assert "tok-1" not in stderr


@pytest.mark.parametrize("name,value,needle", [
    ("SPARK_API_OIDC_CA_FILE", "/nonexistent/ca.crt", "not a readable PEM CA bundle"),
    ("SPARK_API_OIDC_DISCOVERY_TOKEN_FILE", "/nonexistent/token", "is not a file"),
    ("SPARK_API_OIDC_SUBJECT_SCOPES", '{"a*b": "jobs:read"}', "only as its last character"),
])
def test_bad_file_or_mapping_settings_refuse_start(name: str, value: str, needle: str) -> None:
    stderr = _start_refused({"SPARK_API_OIDC_ISSUER": ISSUER, name: value})
    assert name in stderr and needle in stderr
