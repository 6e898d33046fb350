"""`api-service.jobs.allowSupervise` reaches the API as SPARK_API_ALLOW_SUPERVISE (off by
default: a failing supervised driver is restarted by its worker without limit), and a value
that is not a boolean is refused by the schema before anything renders."""
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
