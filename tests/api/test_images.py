"""The API and mock-OAuth images, built for real and run under an arbitrary UID (GID 0).

Containers use the host network and bind a random 127.x.y.z address, so no traffic leaves the
loopback range. Marked `docker`: run with `tox -e docker` where a Docker engine exists.
"""
from __future__ import annotations

import json
import subprocess
import time
import uuid

import httpx
import pytest

from .helpers import CLIENTS, free_loopback

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def images():
    from simulator.images import build_image, docker_reachable

    if not docker_reachable():
        pytest.skip("no Docker engine reachable (docker info failed): start one, e.g. "
                    "python -m simulator.images --ensure-docker")
    # With an engine there, a build that fails is our Dockerfile's failure: no skip.
    return {name: build_image(name).tag for name in ("api-service", "mock-oauth")}


def _run(image: str, *args: str, env: dict[str, str], volumes: tuple[str, ...] = ()) -> str:
    name = f"spark-stack-apitest-{uuid.uuid4().hex[:8]}"
    command = ["docker", "run", "-d", "--rm", "--name", name, "--network", "host",
               "--user", "123456:0", "--cap-drop", "ALL", "--security-opt",
               "no-new-privileges"]
    for key, value in env.items():
        command += ["-e", f"{key}={value}"]
    for volume in volumes:
        command += ["-v", volume]
    subprocess.run(command + [image, *args], check=True, capture_output=True)
    return name


def _wait(url: str, name: str, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.3)
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
    raise AssertionError(f"{url} never answered; container log:\n{logs.stdout}{logs.stderr}")


def _stop(name: str) -> None:
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_images_run_as_numeric_non_root(images) -> None:
    for tag in images.values():
        user = subprocess.run(["docker", "inspect", "--format", "{{.Config.User}}", tag],
                              capture_output=True, text=True, check=True).stdout.strip()
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) != 0, (tag, user)


def test_api_image_serves_its_packaged_catalog(images) -> None:
    ip, port = free_loopback()
    name = _run(images["api-service"], env={
        "SPARK_API_HOST": ip, "SPARK_API_PORT": str(port), "SPARK_API_AUTH_MODE": "disabled",
        "SPARK_API_MASTER_URL": f"spark://{ip}:7077"})
    try:
        assert _wait(f"http://{ip}:{port}/healthz", name).status_code == 200
        catalog = httpx.get(f"http://{ip}:{port}/v1/catalog").json()
        assert {"pi", "sleep", "fail", "wordcount"} <= {item["name"] for item in catalog}
        assert httpx.get(f"http://{ip}:{port}/readyz").status_code == 503
    finally:
        _stop(name)


def test_mock_oauth_image_issues_tokens(images, tmp_path) -> None:
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": CLIENTS}))
    clients.chmod(0o644)
    ip, port = free_loopback()
    name = _run(images["mock-oauth"], "--port", str(port), "--clients",
                "/etc/mock-oauth/clients.json", env={"POD_IP": ip},
                volumes=(f"{clients}:/etc/mock-oauth/clients.json:ro",))
    try:
        doc = _wait(f"http://{ip}:{port}/.well-known/openid-configuration", name).json()
        # The image's token endpoint IS the thing under test: a raw grant request, on purpose.
        token = httpx.post(doc["token_endpoint"], data={"grant_type": "client_credentials"},
                           auth=("alice", CLIENTS["alice"]["secret"]))
        assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
        assert CLIENTS["alice"]["secret"] not in logs.stdout + logs.stderr
    finally:
        _stop(name)
