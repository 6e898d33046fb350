"""Invalid values are refused by the charts' schemas before anything renders, naming the field."""
from __future__ import annotations

import pytest

from simulator.render import RenderError, render

# (--set expressions, a fragment of the refusal that names the field)
REFUSED = {
    "negative worker replicas": (["spark-job.spark.worker.replicas=-1"], "worker/replicas"),
    "fractional worker replicas": (["spark-job.spark.worker.replicas=1.5"], "worker/replicas"),
    "string worker replicas": (["spark-job.spark.worker.replicas=two"], "worker/replicas"),
    "negative api replicas": (["api-service.replicaCount=-3"], "replicaCount"),
    "typo in a subchart key": (["spark-job.spark.wokrer.replicas=2"], "wokrer"),
    "typo at the top level": (["tag.install-spark=false"], "tag"),
    "typo in api-service": (["api-service.oath.enabled=false"], "oath"),
    "master port too large": (["spark-job.spark.master.port=70000"], "master/port"),
    "master port zero": (["spark-job.spark.master.port=0"], "master/port"),
    "worker ui port out of range": (["spark-job.spark.worker.webUiPort=65536"], "webUiPort"),
    "service port out of range": (["api-service.service.port=-1"], "service/port"),
    "master url not spark://": (["api-service.env.sparkMasterUrl=http://master:7077"],
                                "sparkMasterUrl"),
    "unknown route termination": (["api-service.route.tls.termination=bogus"], "termination"),
    "unknown insecure policy": (["api-service.route.tls.insecureEdgeTerminationPolicy=Sometimes"],
                                "insecureEdgeTerminationPolicy"),
    "unknown oauth mode": (["api-service.oauth.mode=basic"], "mode"),
    "oidc without issuer": (["api-service.oauth.issuerUrl="], "issuerUrl"),
    "oidc without audience": (["api-service.oauth.audience="], "audience"),
    "unknown expose type": (["api-service.expose.type=nodeport"], "expose"),
    "bad worker memory": (["spark-job.spark.worker.memory=lots"], "worker/memory"),
    "service-only without a master url": (["tags.install-spark=false"], "sparkMasterUrl"),
}


@pytest.mark.parametrize("sets,field", REFUSED.values(), ids=REFUSED.keys())
def test_refused_naming_the_field(sets: list[str], field: str) -> None:
    with pytest.raises(RenderError) as refused:
        render(set_values=sets, release="bad", validate=False)
    assert field in str(refused.value), str(refused.value)


def test_proxy_mode_needs_no_issuer_but_refuses_a_plain_client_secret() -> None:
    rendered = render(set_values=["api-service.oauth.mode=openshift-proxy",
                                  "api-service.oauth.issuerUrl="], release="proxy", openshift=True)
    assert rendered.objects("Route")
    with pytest.raises(RenderError) as refused:
        render(set_values=["api-service.oauth.clientSecret.value=hunter2"], release="x")
    assert "clientSecret" in str(refused.value)


def test_values_file_typo_is_refused(tmp_path) -> None:
    f = tmp_path / "values.yaml"
    f.write_text("spark-job:\n  spark:\n    worker:\n      replica: 3\n")
    with pytest.raises(RenderError) as refused:
        render(values_files=[f], release="bad")
    assert "replica" in str(refused.value)


def test_missing_values_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(RenderError, match="nope.yaml"):
        render(values_files=[tmp_path / "nope.yaml"], release="bad")


def test_bad_release_name_is_refused() -> None:
    with pytest.raises(RenderError, match="release name"):
        render(release="Not_A_Valid_Name")
