"""images/spark-job/entrypoint.sh: how it turns the mounted secret FILES into Spark settings.

Like test_entrypoint.py, a recording ``bin/spark-class`` stands in for the JVM (the unit under
test is the translation); here it records the WHOLE environment and the properties file, so the
tests can see where a secret went and, as important, where it did not (argv, the startup line).
The real JVMs with the same settings: test_security.py.
"""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from .test_entrypoint import base_env, fake_home, run  # noqa: F401 (fake_home is a fixture)

RECORD_ALL = """#!/usr/bin/env bash
/usr/bin/python3 - "$@" <<'PY'
import json, os, sys
props = sys.argv[sys.argv.index("--properties-file") + 1]
json.dump({"argv": sys.argv[1:], "env": dict(os.environ), "props": open(props).read(),
           "props_dir_mode": os.stat(os.path.dirname(props)).st_mode & 0o777},
          open(os.environ["RECORD"], "w"))
PY
"""
SECRET = "rpc-secret-4f1c9a0e7d2b46c8a1f3e5d7b9c0a2e4"
JWS_KEY = "Zm9vYmFyYmF6cXV4" * 4          # 64 base64url characters = 384 bits
WORKER = {"SPARK_MASTER_URL": "spark://127.31.32.1:7077"}


@pytest.fixture()
def recorder(fake_home: Path) -> Path:  # noqa: F811 (the imported fixture)
    script = fake_home / "bin" / "spark-class"
    script.write_text(RECORD_ALL)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return fake_home


@pytest.fixture()
def secret_files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "auth").write_text(SECRET + "\n")      # a trailing newline, as `echo` leaves
    (tmp_path / "jws").write_text(JWS_KEY)
    return {"SPARK_AUTH_SECRET_FILE": str(tmp_path / "auth"),
            "SPARK_REST_JWS_KEY_FILE": str(tmp_path / "jws")}


def started(tmp_path: Path, spark: Path, role: str, **env: str) -> tuple[dict, str]:
    result = run(base_env(tmp_path, spark, SPARK_JVM_FAST_START="false", **env), role)
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "record.json").read_text()), result.stdout + result.stderr


def props(record: dict) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in record["props"].splitlines() if line)


def test_master_with_both_files_authenticates_rpc_and_signs_rest(tmp_path, recorder,
                                                                   secret_files) -> None:
    rec, output = started(tmp_path, recorder, "master", **secret_files)
    conf = props(rec)
    assert conf["spark.authenticate"] == "true"
    assert conf["spark.master.rest.filters"] == "org.apache.spark.ui.JWSFilter"
    assert conf["spark.org.apache.spark.ui.JWSFilter.param.secretKey"] == JWS_KEY
    assert conf["spark.org.apache.spark.ui.JWSFilter.param.requireExpiration"] == "true"
    assert conf["spark.ui.killEnabled"] == "false"
    # The RPC secret reaches the JVM only through Spark's own variable, newline stripped ...
    assert rec["env"]["_SPARK_AUTH_SECRET"] == SECRET
    assert "spark.authenticate.secret" not in rec["props"]
    # ... and neither secret is on the command line (`ps`) or in what the entrypoint prints.
    for secret in (SECRET, JWS_KEY):
        assert not any(secret in arg for arg in rec["argv"])
        assert secret not in output
    assert "rpc-auth=on rest-auth=jws" in output
    assert rec["props_dir_mode"] == 0o700       # the key sits in a directory only we can read


def test_worker_hands_drivers_the_switch_and_a_placeholder_never_the_secret(
        tmp_path, recorder, secret_files) -> None:
    rec, output = started(tmp_path, recorder, "worker", **WORKER, **secret_files)
    assert props(rec)["spark.authenticate"] == "true"
    assert rec["env"]["_SPARK_AUTH_SECRET"] == SECRET
    tool = rec["env"]["JAVA_TOOL_OPTIONS"].split()
    assert "-Dspark.authenticate=true" in tool and "-Dspark.ui.killEnabled=false" in tool
    [placeholder] = [o for o in tool if o.startswith("-Dspark.authenticate.secret=")]
    assert SECRET not in placeholder and SECRET not in rec["env"]["JAVA_TOOL_OPTIONS"]
    # A worker has no REST gateway: the JWS key file means nothing to it.
    assert "JWSFilter" not in rec["props"] and JWS_KEY not in json.dumps(rec)
    assert "rpc-auth=on" in output and "rest-auth" not in output


@pytest.mark.parametrize("role", ["master", "worker"])
def test_without_files_the_daemons_start_open_as_before_but_never_kill_from_the_ui(
        tmp_path, recorder, role) -> None:
    # An inherited _SPARK_AUTH_SECRET is dropped: the secret comes from the file or not at all.
    rec, output = started(tmp_path, recorder, role, _SPARK_AUTH_SECRET="inherited", **WORKER)
    assert "_SPARK_AUTH_SECRET" not in rec["env"]
    conf = props(rec)
    assert "spark.authenticate" not in conf and "spark.master.rest.filters" not in conf
    assert conf["spark.ui.killEnabled"] == "false"
    assert "rpc-auth=off" in output
    if role == "worker":
        assert "spark.authenticate" not in rec["env"]["JAVA_TOOL_OPTIONS"]


@pytest.mark.parametrize(("variable", "content", "says"), [
    ("SPARK_AUTH_SECRET_FILE", None, "is not a readable file"),
    ("SPARK_AUTH_SECRET_FILE", "\n", "is empty"),
    ("SPARK_REST_JWS_KEY_FILE", None, "is not a readable file"),
    ("SPARK_REST_JWS_KEY_FILE", "c2hvcnQta2V5", "a key needs >= 43 (256 bits)"),
    ("SPARK_REST_JWS_KEY_FILE", "a" * 45, "a key needs >= 43 (256 bits)"),  # 45 % 4 == 1
    ("SPARK_REST_JWS_KEY_FILE", "+/" * 32, "must hold a base64url key"),
    ("SPARK_REST_JWS_KEY_FILE", "A" * 60 + "====", "must hold a base64url key"),
])
def test_unusable_secret_files_are_refused_naming_the_variable(
        tmp_path, recorder, variable, content, says) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    result = run(base_env(tmp_path, recorder, **{variable: str(path)}), "master")
    assert result.returncode == 78
    assert variable in result.stderr and says in result.stderr, result.stderr
    assert not (tmp_path / "record.json").exists()     # no JVM was started
