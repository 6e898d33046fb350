"""Start-up refusals (placeholder secrets), the loud warning with auth off, the catalog copy."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from .helpers import API_DIR, JOBS_DIR, dead_master_url

ORIGINAL = JOBS_DIR / "catalog.json"
COPY = API_DIR / "spark_api" / "catalog.json"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_API_")}
    clean.update({"PYTHONPATH": str(API_DIR), **env})
    return subprocess.run([sys.executable, "-m", "spark_api"], env=clean, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("secret", [None, "", "changeme", "short"])
def test_refuses_to_start_without_a_real_owner_secret(secret: str | None) -> None:
    env = {"SPARK_API_MASTER_URL": dead_master_url(), "SPARK_API_AUTH_MODE": "oidc",
           "SPARK_API_OIDC_ISSUER": "http://127.0.0.1:1", "SPARK_API_OIDC_AUDIENCE": "a"}
    if secret is not None:
        env["SPARK_API_OWNER_SECRET"] = secret
    result = _run(env)
    assert result.returncode == 2
    assert "SPARK_API_OWNER_SECRET" in result.stderr
    if secret:
        assert f"'{secret}'" not in result.stderr and f"={secret}" not in result.stderr


def test_owner_secret_from_a_file(tmp_path) -> None:
    # The chart mounts the owner Secret as a file (SPARK_API_OWNER_SECRET_FILE), never as env.
    from spark_api.settings import Settings

    secret = tmp_path / "owner-secret"
    secret.write_text("a-real-secret-value-123456\n")
    base = {"master_url": dead_master_url(), "auth_mode": "disabled"}
    settings = Settings(**base, owner_secret_file=secret)
    assert settings.secret_bytes == b"a-real-secret-value-123456"
    with pytest.raises(ValueError, match="not both"):
        Settings(**base, owner_secret_file=secret, owner_secret="another-secret-value-1234")
    result = _run({"SPARK_API_MASTER_URL": dead_master_url(), "SPARK_API_AUTH_MODE": "oidc",
                   "SPARK_API_OIDC_ISSUER": "http://127.0.0.1:1", "SPARK_API_OIDC_AUDIENCE": "a",
                   "SPARK_API_OWNER_SECRET_FILE": str(tmp_path / "missing")})
    assert result.returncode == 2 and "SPARK_API_OWNER_SECRET_FILE" in result.stderr
    short = tmp_path / "short"
    short.write_text("short")
    result = _run({"SPARK_API_MASTER_URL": dead_master_url(), "SPARK_API_AUTH_MODE": "oidc",
                   "SPARK_API_OIDC_ISSUER": "http://127.0.0.1:1", "SPARK_API_OIDC_AUDIENCE": "a",
                   "SPARK_API_OWNER_SECRET_FILE": str(short)})
    assert result.returncode == 2 and "'short'" not in result.stderr


def test_oidc_needs_issuer_and_audience() -> None:
    result = _run({"SPARK_API_MASTER_URL": dead_master_url(),
                   "SPARK_API_OWNER_SECRET": "a-real-secret-value-123456"})
    assert result.returncode == 2
    assert "SPARK_API_OIDC_ISSUER" in result.stderr and "SPARK_API_OIDC_AUDIENCE" in result.stderr


def test_bad_master_url_is_named() -> None:
    result = _run({"SPARK_API_MASTER_URL": "http://wrong", "SPARK_API_AUTH_MODE": "disabled"})
    assert result.returncode == 2 and "master_url" in result.stderr


def test_disabled_only_when_explicit_and_then_loud(api_factory) -> None:
    api = api_factory({"SPARK_API_MASTER_URL": dead_master_url(),
                       "SPARK_API_AUTH_MODE": "disabled"})
    assert httpx.get(api.url + "/v1/catalog").status_code == 200
    assert "AUTHENTICATION IS DISABLED" in api.log_path.read_text()


def test_catalog_copy_equals_the_original() -> None:
    """The API image ships a copy (images/api-service/sync-catalog.sh); it must not drift."""
    assert json.loads(COPY.read_text()) == json.loads(ORIGINAL.read_text()), \
        "run images/api-service/sync-catalog.sh"


def test_catalog_scripts_exist_and_load() -> None:
    sys.path.insert(0, str(API_DIR))
    from spark_api.catalog import Catalog

    catalog = Catalog.load(COPY)
    assert {"pi", "wordcount", "sleep", "fail"} <= set(catalog.entries)
    for entry in catalog.entries.values():
        assert (JOBS_DIR / entry.script).is_file(), entry.script
        assert entry.parameters.get("additionalProperties") is False, entry.name


def test_openapi_and_metrics(api_factory) -> None:
    api = api_factory({"SPARK_API_MASTER_URL": dead_master_url(),
                       "SPARK_API_AUTH_MODE": "disabled"})
    spec = httpx.get(api.url + "/openapi.json").json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/logs", "/v1/catalog"} \
        <= set(spec["paths"])
    httpx.post(api.url + "/v1/jobs", json={"job": "nope"})
    readyz = httpx.get(api.url + "/readyz")
    assert readyz.status_code == 503 and "master" in readyz.json()["error"]["message"]
    assert httpx.get(api.url + "/metrics").status_code == 404  # not on the API's own port
    metrics = httpx.get(api.metrics_url).text
    assert 'spark_api_submissions_total{outcome="rejected"} 1.0' in metrics
    assert 'route="/v1/jobs",status="422"' in metrics

