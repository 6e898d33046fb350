"""The API settings the chart passes for job states: `api-service.jobs.allowSupervise` reaches
the API as SPARK_API_ALLOW_SUPERVISE (off by default: a failing supervised driver is restarted
by its worker without limit; a value that is not a boolean is refused by the schema before
anything renders), and the owner facts file sits on the pod's /tmp emptyDir."""
from __future__ import annotations

import pytest

from simulator.render import RenderError, render

from .chartlib import containers, env_value, find, pod_spec


def _api_env(sets: list[str]) -> str | None:
    [deployment] = find(render(set_values=sets, release="rel"), "Deployment", "api")
    return env_value(next(containers(pod_spec(deployment))), "SPARK_API_ALLOW_SUPERVISE")


def test_supervise_is_off_by_default_and_can_be_allowed():
    assert _api_env([]) == "false"
    assert _api_env(["api-service.jobs.allowSupervise=true"]) == "true"


def test_a_non_boolean_is_refused_naming_the_value():
    with pytest.raises(RenderError, match=r"allowSupervise"):
        render(set_values=["api-service.jobs.allowSupervise=sometimes"], release="rel")


def test_owner_facts_live_on_the_pods_tmp_emptydir():
    """Kept across container restarts (docs/contracts.md, SPARK_API_OWNER_FACTS_FILE)."""
    [deployment] = find(render(release="rel"), "Deployment", "api")
    api = next(containers(pod_spec(deployment)))
    assert env_value(api, "SPARK_API_OWNER_FACTS_FILE") == "/tmp/spark-api-owner-facts"
    tmp = {m["name"] for m in api["volumeMounts"] if m["mountPath"] == "/tmp"}
    assert any(v["name"] in tmp and "emptyDir" in v for v in pod_spec(deployment)["volumes"])
