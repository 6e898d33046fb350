"""The API's liveness probe and metrics port as the chart renders them: liveness asks /livez (a
wedged API, never a master that is down), /metrics has a port of its own that the Service and
Route never reach, and a privileged metrics port is refused naming the value."""
from __future__ import annotations

import pytest

from simulator.render import RenderError, render

from .chartlib import containers, env_value, find, pod_spec


def _api(sets: list[str] | None = None) -> dict:
    rendered = render(set_values=sets or [], release="rel")
    [deployment] = find(rendered, "Deployment", "api")
    return next(containers(pod_spec(deployment)))


def test_liveness_asks_livez_and_startup_healthz():
    api = _api()
    assert api["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_metrics_have_their_own_port_and_the_service_does_not_reach_it():
    api = _api()
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert ports["metrics"] == 9090 and env_value(api, "SPARK_API_METRICS_PORT") == "9090"
    rendered = render(release="rel")
    [service] = find(rendered, "Service", "api")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"http"}


def test_metrics_off():
    api = _api(["api-service.metricsPort=0"])
    assert "metrics" not in {p["name"] for p in api["ports"]}
    assert env_value(api, "SPARK_API_METRICS_PORT") == "0"


@pytest.mark.parametrize("port", ["80", "1023"])
def test_a_privileged_metrics_port_is_refused_naming_the_value(port):
    with pytest.raises(RenderError, match=rf"api-service.metricsPort={port}: .*1024-65535"):
        render(set_values=[f"api-service.metricsPort={port}"], release="rel")
