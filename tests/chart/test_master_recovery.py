"""The master's recovery values as the chart renders them: off by default; FILESYSTEM/ROCKSDB
give the master its recovery env and a volume (an emptyDir, a claim the chart creates and keeps,
or an existing claim); bad forms are refused by the schema naming the value."""
from __future__ import annotations

import pytest

from simulator.render import RenderError, render

from .chartlib import containers, env_value, find, pod_spec

MODE = "spark-job.spark.master.recovery.mode"
PERSIST = "spark-job.spark.master.recovery.persistence"


def _master(sets: list[str]) -> tuple[dict, dict, list[dict]]:
    rendered = render(set_values=sets, release="rel")
    [deployment] = find(rendered, "Deployment", "master")
    spec = pod_spec(deployment)
    return spec, next(containers(spec)), rendered.objects("PersistentVolumeClaim")


def test_off_by_default():
    spec, master, claims = _master([])
    assert env_value(master, "SPARK_MASTER_RECOVERY_MODE") is None
    assert "recovery" not in {v["name"] for v in spec["volumes"]} and claims == []


def test_filesystem_on_an_emptydir():
    spec, master, claims = _master([f"{MODE}=FILESYSTEM"])
    assert env_value(master, "SPARK_MASTER_RECOVERY_MODE") == "FILESYSTEM"
    assert env_value(master, "SPARK_MASTER_RECOVERY_DIR") == "/spark-recovery"
    [vol] = [v for v in spec["volumes"] if v["name"] == "recovery"]
    assert "emptyDir" in vol and claims == []
    assert {"name": "recovery", "mountPath": "/spark-recovery"} in master["volumeMounts"]


def test_rocksdb_on_a_claim_the_chart_creates_and_keeps():
    spec, master, claims = _master([f"{MODE}=ROCKSDB", f"{PERSIST}.enabled=true",
                                    f"{PERSIST}.size=2Gi", f"{PERSIST}.storageClass=fast"])
    [claim] = claims
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    [vol] = [v for v in spec["volumes"] if v["name"] == "recovery"]
    assert vol["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_an_existing_claim_is_used_and_none_created():
    spec, _master_c, claims = _master([f"{MODE}=FILESYSTEM", f"{PERSIST}.enabled=true",
                                       f"{PERSIST}.existingClaim=mine"])
    [vol] = [v for v in spec["volumes"] if v["name"] == "recovery"]
    assert vol["persistentVolumeClaim"]["claimName"] == "mine" and claims == []


@pytest.mark.parametrize("sets, where", [
    ([f"{MODE}=ZOOKEEPER"], "/spark/master/recovery/mode"),
    ([f"{PERSIST}.size=lots"], "/spark/master/recovery/persistence/size"),
    ([f"{PERSIST}.existingClaim=Not_A_Name"], "/spark/master/recovery/persistence/existingClaim"),
    ([f"{PERSIST}.enabled=yes-please"], "/spark/master/recovery/persistence/enabled"),
])
def test_bad_forms_are_refused_naming_the_value(sets, where):
    with pytest.raises(RenderError, match=where):
        render(set_values=sets, release="rel")
