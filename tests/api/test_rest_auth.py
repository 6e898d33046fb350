"""spark_api.rest_auth: the token the API signs for the master's REST gateway, and its settings.

What the master's JWSFilter makes of these tokens is tested against the real JVM in
tests/spark/test_security.py; here: the key file is read as the filter reads it, refused with
the setting's name when unusable, and the token goes to the REST gateway only.
"""
from __future__ import annotations

import base64
import time

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import OctKey

from spark_api.rest_auth import TOKEN_LIFETIME, RestAuth, load_key
from spark_api.settings import Settings

KEY_TEXT = "Zm9vYmFyYmF6cXV4" * 4     # what the chart generates: 64 base64url characters
REST = "http://10.0.0.5:6066"


def key_file(tmp_path, text: str = KEY_TEXT + "\n"):
    path = tmp_path / "rest-jws-key"
    path.write_text(text)
    return path


def test_the_key_is_the_base64url_decoding_of_the_file(tmp_path) -> None:
    assert load_key(key_file(tmp_path)) == base64.urlsafe_b64decode(KEY_TEXT)
    assert len(load_key(key_file(tmp_path))) * 8 == 384


@pytest.mark.parametrize(("text", "why"), [
    ("c2hvcnQ", "short"), ("a" * 45, "4n+1 characters are not base64"),
    ("+/" * 32, "standard base64 alphabet"), ("A" * 60 + "====", "padding"), ("", "empty"),
])
def test_unusable_keys_are_refused_naming_the_setting(tmp_path, text, why) -> None:
    with pytest.raises(ValueError, match="SPARK_API_REST_JWS_KEY_FILE.*base64url key of at least"):
        load_key(key_file(tmp_path, text))


def test_settings_refuse_to_start_with_an_unusable_or_missing_key_file(tmp_path) -> None:
    common = {"master_url": "spark://m:7077", "auth_mode": "disabled"}
    with pytest.raises(ValueError, match="SPARK_API_REST_JWS_KEY_FILE.*cannot be read"):
        Settings(rest_jws_key_file=tmp_path / "missing", **common)
    with pytest.raises(ValueError, match="SPARK_API_REST_JWS_KEY_FILE"):
        Settings(rest_jws_key_file=key_file(tmp_path, "short"), **common)
    settings = Settings(rest_jws_key_file=key_file(tmp_path), spark_authenticate=True, **common)
    auth = RestAuth.from_settings(settings)
    assert auth.submission_properties == {"spark.authenticate": "true"}


def test_rest_calls_carry_a_fresh_short_lived_hs256_token_and_nothing_else_does(tmp_path) -> None:
    auth = RestAuth(REST, load_key(key_file(tmp_path)), spark_authenticate=False)
    signed = auth.sign(f"{REST}/v1/submissions/create", {"json": {"a": 1}})
    assert signed["json"] == {"a": 1}
    scheme, token = signed["headers"]["Authorization"].split(" ")
    assert scheme == "Bearer"
    decoded = jwt.decode(token, OctKey.import_key(base64.urlsafe_b64decode(KEY_TEXT)),
                         algorithms=["HS256"])
    assert decoded.header["alg"] == "HS256"
    claims = decoded.claims
    assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME
    assert abs(claims["iat"] - time.time()) < 5
    # Another key does not verify it (what the master's filter checks).
    with pytest.raises(BadSignatureError):
        jwt.decode(token, OctKey.import_key(b"x" * 48), algorithms=["HS256"])
    # The master UI and the workers' log pages never see it.
    for url in ("http://10.0.0.5:8080/json/", "http://10.0.0.7:8081/log/",
                "http://10.0.0.5:60660/v1/submissions/create"):
        assert auth.sign(url, {"params": {"x": 1}}) == {"params": {"x": 1}}
    assert auth.submission_properties == {}


def test_without_a_key_nothing_is_signed_and_a_403_is_explained() -> None:
    import httpx

    auth = RestAuth(REST, None, spark_authenticate=False)
    assert auth.sign(f"{REST}/v1/submissions/status/driver-1", {}) == {}
    url = f"{REST}/v1/submissions/status/driver-1"
    forbidden = httpx.Response(403, request=httpx.Request("GET", url))
    assert "SPARK_API_REST_JWS_KEY_FILE" in auth.refused(url, forbidden)
    assert auth.refused("http://10.0.0.5:8080/json/", forbidden) is None
    assert auth.refused(url, httpx.Response(200, request=httpx.Request("GET", url))) is None
