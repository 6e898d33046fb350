"""The client and the CLI against the real API (no Spark master: every Spark call answers 503)
and real tokens from the mock OAuth server: token renewal, each error mapped, exit codes."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import pytest
from api.helpers import CLIENTS, fetch_token, free_loopback

from spark_stack_client import (
    ApiUnreachable,
    AuthError,
    Client,
    InvalidRequest,
    NotFound,
    RetryPolicy,
    Unavailable,
    WaitTimeout,
    client_credentials_token,
)

from .conftest import TOKEN_LIFETIME, cli, cli_env, make_client


def test_imports_with_httpx_and_authlib_only() -> None:
    code = ("import sys, spark_stack_client, spark_stack_client.cli; "
            "bad = [m for m in ('fastapi', 'pyspark', 'simulator', 'spark_api', 'pydantic') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_token_renewed_by_authlib_across_expiry(dead_api, short_oauth) -> None:
    """Two calls inside one token's life share it; after it expires authlib fetched a new one."""
    seen: list[str] = []
    with make_client(dead_api, short_oauth) as api:
        api.http.event_hooks["request"].append(
            lambda request: seen.append(request.headers.get("Authorization", "")))
        api.catalog()
        api.catalog()
        time.sleep(TOKEN_LIFETIME + 0.5)
        api.catalog()
    api_calls = [h for h in seen if h]  # the token request itself carries Basic auth
    bearer = [h for h in api_calls if h.startswith("Bearer ")]
    assert len(bearer) == 3, seen
    assert bearer[0] == bearer[1], "a cached token was not reused"
    assert bearer[2] != bearer[1], "no new token after the first one expired"


def test_bearer_token(dead_api, short_oauth) -> None:
    token = fetch_token(short_oauth.token_url, "reader")
    with Client(dead_api.url, token=token) as api:
        assert {e.name for e in api.catalog()} >= {"pi", "fail", "sleep"}


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_client_credentials_token_for_a_chosen_scope(short_oauth) -> None:
    """A token by itself (for callers handing it on), for a chosen subset of the scopes."""
    token = client_credentials_token(short_oauth.token_url, "root", CLIENTS["root"]["secret"],
                                     "jobs:read")
    assert (_claims(token)["sub"], _claims(token)["scope"]) == ("root", "jobs:read")
    full = _claims(client_credentials_token(short_oauth.token_url, "root",
                                            CLIENTS["root"]["secret"]))["scope"].split()
    assert sorted(full) == sorted(CLIENTS["root"]["scopes"])
    with pytest.raises(AuthError) as err:
        client_credentials_token(short_oauth.token_url, "root", "wrong")
    assert err.value.status == 401 and "refused" in err.value.message


def test_access_token_is_the_one_calls_carry(dead_api, short_oauth) -> None:
    seen: list[str] = []
    with make_client(dead_api, short_oauth, "reader", scope="jobs:read") as api:
        api.http.event_hooks["request"].append(
            lambda request: seen.append(request.headers.get("Authorization", "")))
        token = api.access_token()
        assert token and _claims(token)["scope"] == "jobs:read"
        api.catalog()
    assert seen[-1] == f"Bearer {token}"
    with Client(dead_api.url, token="given") as api:
        assert api.access_token() == "given"
    with Client(dead_api.url, anonymous=True) as api:
        assert api.access_token() is None


def test_request_returns_any_status_unraised(dead_api, short_oauth) -> None:
    """The raw call for status expectations: 401 with its Bearer challenge when anonymous,
    403 for a missing scope; the typed calls raise for the same answers."""
    with Client(dead_api.url, anonymous=True) as anonymous:
        response = anonymous.request("GET", "/v1/jobs")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].lower().startswith("bearer")
        with pytest.raises(AuthError):
            anonymous.page()
    with make_client(dead_api, short_oauth, "reader") as reader:
        response = reader.request("POST", "/v1/jobs", json={"job": "pi", "args": {}})
        assert response.status_code == 403 and response.json()["error"]["code"]


def test_no_credentials_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="anonymous=True"):
        Client("http://127.0.0.1:1")


def test_wait_rides_out_an_unreachable_api_only_when_asked() -> None:
    ip, port = free_loopback()
    with Client(f"http://{ip}:{port}", token="t",
                retry=RetryPolicy(attempts=1, default_wait=0.1)) as api:
        with pytest.raises(ApiUnreachable):
            api.wait("some-job", timeout=1, interval=0.1)
        with pytest.raises(WaitTimeout) as err:
            api.wait("some-job", timeout=1, interval=0.1, ride_out_outages=True)
    assert err.value.job_id == "some-job" and err.value.state.startswith("unknown")


def test_wait_rides_out_a_404_only_when_asked(dead_api, short_oauth) -> None:
    """A restarted master that has not recovered its drivers yet makes the API answer 404."""
    with make_client(dead_api, short_oauth) as api:
        with pytest.raises(NotFound):
            api.wait("no-such-job", timeout=1, interval=0.1)
        with pytest.raises(WaitTimeout) as err:
            api.wait("no-such-job", timeout=1, interval=0.1, ride_out_outages=True)
    assert "404 not_found" in err.value.state


def test_401_bad_token(dead_api) -> None:
    with Client(dead_api.url, token="not-a-jwt") as api, pytest.raises(AuthError) as err:
        api.catalog()
    assert err.value.status == 401 and err.value.code and err.value.message


def test_401_wrong_secret_at_token_endpoint(dead_api, short_oauth) -> None:
    api = Client(dead_api.url, token_url=short_oauth.token_url, client_id="alice",
                 client_secret="wrong")
    with api, pytest.raises(AuthError) as err:
        api.catalog()
    assert err.value.status == 401


def test_403_missing_scope(dead_api, short_oauth) -> None:
    with make_client(dead_api, short_oauth, "reader") as api, pytest.raises(AuthError) as err:
        api.submit("pi", {"samples": 10})
    assert err.value.status == 403 and err.value.code


def test_404(dead_api, short_oauth) -> None:
    with make_client(dead_api, short_oauth) as api, pytest.raises(NotFound) as err:
        api.get("no-such-job")
    assert (err.value.status, err.value.code) == (404, "not_found")


def test_422_names_the_field(dead_api, short_oauth) -> None:
    with make_client(dead_api, short_oauth) as api, pytest.raises(InvalidRequest) as err:
        api.submit("pi", {"samples": 1000}, {"driverMemory": "lots"})
    assert err.value.status == 422 and err.value.field == "resources.driverMemory"
    assert err.value.details and err.value.message


def test_413(dead_api, short_oauth) -> None:
    with make_client(dead_api, short_oauth) as api, pytest.raises(InvalidRequest) as err:
        api.submit("fail", {"message": "x" * 200_000})
    assert (err.value.status, err.value.code, err.value.field) == (413, "payload_too_large",
                                                                    "body")


def test_503_retried_then_raised_with_retry_after(dead_api, short_oauth) -> None:
    """The dead master's 503 carries Retry-After: 5; with max_total=6 the client waits once."""
    seen: list[int] = []
    retry = RetryPolicy(attempts=3, max_total=6)
    with make_client(dead_api, short_oauth, retry=retry) as api:
        api.http.event_hooks["response"].append(
            lambda r: seen.append(r.status_code) if "/v1/" in str(r.url) else None)
        with pytest.raises(Unavailable) as err:
            api.page()
    assert (err.value.status, err.value.code, err.value.retry_after) == (
        503, "spark_unavailable", 5.0)
    assert seen == [503, 503], "one retry after Retry-After, then the total wait bound"


def test_unreachable() -> None:
    ip, port = free_loopback()
    with Client(f"http://{ip}:{port}", token="t",
                retry=RetryPolicy(attempts=2, default_wait=0.1)) as api:
        with pytest.raises(ApiUnreachable):
            api.catalog()


# -- the CLI, as a user runs it: exit codes as documented in `spark-stack --help` ------------------
def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cli() + args, env=env, check=False, capture_output=True, text=True,
                          timeout=120)


def test_cli_help_documents_exit_codes() -> None:
    done = subprocess.run(cli() + ["--help"], check=False, capture_output=True, text=True)
    assert done.returncode == 0
    for line in ("0  ok", "1  the job ended FAILED", "2  usage", "3  authentication",
                 "4  not found", "5  API unreachable", "6  --wait timed out"):
        assert line in done.stdout


@pytest.mark.parametrize(("caller", "args", "code"), [
    ("alice", ["jobs", "catalog"], 0),
    ("alice", ["jobs", "get", "nope"], 4),
    ("alice", ["jobs", "submit", "pi", "--arg", "samples=1000", "--resources",
               '{"maxCores": 0}'], 2),
    ("alice", ["jobs", "submit", "pi", "--arg", "samples"], 2),
    ("reader", ["jobs", "submit", "pi"], 3),
    ("alice", ["--retries", "1", "jobs", "list"], 5),
])
def test_cli_exit_codes(dead_api, short_oauth, tmp_path, caller, args, code) -> None:
    done = run(args, cli_env(dead_api, short_oauth, caller, tmp_path))
    assert done.returncode == code, done.stderr
    if code:
        assert done.stderr.startswith("spark-stack: ")


def test_cli_catalog_json(dead_api, short_oauth, tmp_path) -> None:
    import json
    done = run(["--json", "jobs", "catalog"], cli_env(dead_api, short_oauth, "alice", tmp_path))
    assert done.returncode == 0, done.stderr
    assert "pi" in {e["name"] for e in json.loads(done.stdout)}


def test_cli_bad_secret_and_no_secret(dead_api, short_oauth, tmp_path) -> None:
    env = cli_env(dead_api, short_oauth, "alice", tmp_path)
    (tmp_path / "alice.secret").write_text("wrong\n")
    assert run(["jobs", "catalog"], env).returncode == 3
    del env["SPARK_STACK_CLIENT_SECRET_FILE"]
    done = run(["jobs", "catalog"], env)
    assert done.returncode == 2 and "SPARK_STACK_CLIENT_SECRET" in done.stderr
    assert CLIENTS["alice"]["secret"] not in done.stderr


def test_cli_unreachable(tmp_path, short_oauth) -> None:
    ip, port = free_loopback()
    env = {"SPARK_STACK_API": f"http://{ip}:{port}", "SPARK_STACK_TOKEN": "t", "PATH": "/usr/bin"}
    assert run(["--retries", "1", "jobs", "list"], env).returncode == 5
