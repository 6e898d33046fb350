"""The renderer does what the helm CLI does around the engine: values merging, kubeVersion, order.

The real CLI comparison is in test_helm_cli.py; these run without it. The strvals port is checked
against Helm's own parser (helm-python-sdk binds pkg/strvals' ``Parse*``, which parse a line on
its own), the merge-into-existing-values rules against hand-made cases from the Go code.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from simulator import semver, strvals
from simulator.render import RenderError, render, user_values

from .chartlib import find, pod_spec

# Pieces a --set line is made of: separators, escapes, indexes, typed words, JSON bits.
_PIECES = (list("ab.[]=,{}\\\"01-9 xnule+E:\t")
           + ["true", "FALSE", "null", "[0]", "[1]", "[2]", "a.b", "\\.", "1.5", "007", "\u017f",
              "\u00a0", "\x1c"])
set_lines = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)


def _numbers_as_go(value: Any) -> Any:
    """Go reads JSON numbers as float64: compare numbers by value, not by int/float type."""
    if isinstance(value, dict):
        return {k: _numbers_as_go(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_go(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _ours(parse, line: str) -> Any:
    try:
        return _numbers_as_go(parse(line, {}))
    except strvals.StrvalsError:
        return "refused"


def _helms(parse, line: str) -> Any:
    try:
        return _numbers_as_go(parse(line))
    except helm_python.HelmError:
        return "refused"


@given(set_lines)
def test_strvals_parses_a_line_like_helm(line: str) -> None:
    assert _ours(strvals.parse_into, line) == _helms(helm_python.parse_set_string, line)
    assert (_ours(lambda s, d: strvals.parse_into(s, d, as_string=True), line)
            == _helms(helm_python.parse_set_string_values, line))
    if not line.strip().startswith("{"):  # the whole-object form is the CLI's, not strvals'
        assert _ours(strvals.parse_json_into, line) == _helms(helm_python.parse_set_json, line)


def test_typed_values_as_helm_types_them() -> None:
    cases = {"true": True, "False": False, "NULL": None, "0": 0, "-12": -12, "+7": 7,
             "007": "007", "1.5": "1.5", "9223372036854775808": "9223372036854775808", "": ""}
    assert {text: strvals.typed_value(text) for text in cases} == cases


def test_an_index_patches_the_list_from_a_values_file(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"spark-job": {"tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "spark", "effect": "NoExecute"}]}}))
    merged = user_values([values], ["spark-job.tolerations[1].effect=NoSchedule"])
    assert merged["spark-job"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "spark", "effect": "NoExecute"},
        {"effect": "NoSchedule"}]
    r = render(values_files=[values], set_values=["spark-job.tolerations[1].effect=NoSchedule"],
               release="tol")
    for workload in find(r, "Deployment", "worker") + find(r, "Deployment", "master"):
        assert pod_spec(workload)["tolerations"] == merged["spark-job"]["tolerations"]


def test_set_family_order_and_in_place_rules(tmp_path: Path) -> None:
    (tmp_path / "motd").write_text("hi\n")
    merged = user_values(
        set_values=["a.b=1", r"dotted\.key=x", "list={1,two}", "gone=null", "pad[2]=z", "k.y=2"],
        set_string_values=["a.b=2"], set_json_values=['a={"c":[1,2]}', "j=[true]"],
        set_file_values=[f"f={tmp_path / 'motd'}"], values={"a": {"keep": True}, "k": {"x": 1}})
    # --set-json first (k=JSON replaces the value), then --set, --set-string, --set-file, each
    # parsed into what came before
    assert merged == {"a": {"c": [1, 2], "b": "2"}, "k": {"x": 1, "y": 2}, "j": [True],
                      "dotted.key": "x", "list": [1, "two"], "gone": None,
                      "pad": [None, None, "z"], "f": "hi\n"}


@pytest.mark.parametrize("line", ["a.b=1", "a[0]=1"])
def test_writing_through_a_scalar_is_refused_like_helm(line: str) -> None:
    with pytest.raises(RenderError, match="failed parsing --set data"):
        user_values(values={"a": "scalar"}, set_values=[line])


def test_quirks_kept_a_dangling_index_is_ignored_and_null_deletes_a_default() -> None:
    assert user_values(set_values=["a[1"]) == {}
    r = render(set_values=["spark-job.spark.master.resources.limits=null"], release="nul")
    master = pod_spec(find(r, "Deployment", "master")[0])["containers"][0]
    assert "requests" in master["resources"] and "limits" not in master["resources"]


def test_kube_version_outside_the_chart_constraint_is_refused_with_helms_message() -> None:
    with pytest.raises(RenderError) as err:
        render(kube_version="1.24.0")
    assert str(err.value) == ("chart requires kubeVersion: >=1.25.0-0 which is incompatible "
                              "with Kubernetes v1.24.0")


def test_kube_version_without_schemas_is_refused_clearly() -> None:
    with pytest.raises(RenderError, match=r"v1\.99\.0 is outside .* \(1\.25 to 1\.\d+\)"):
        render(kube_version="1.99")
    assert render(kube_version="1.99", validate=False).manifests
    with pytest.raises(RenderError, match="invalid kube version 'banana'"):
        render(kube_version="banana")


def test_hooks_come_last_like_helm_template() -> None:
    r = render(release="order")
    hooks = [m.is_hook for m in r.manifests]
    assert any(hooks) and hooks == sorted(hooks)


@pytest.mark.parametrize(("version", "constraint", "ok"), [
    ("v1.24.0", ">=1.25.0-0", False), ("v1.33.0", ">=1.25.0-0", True),
    ("v1.30.0-gke.1", ">=1.25.0-0", True), ("1.30.0-rc.1", ">=1.25.0", False),
    ("1.2.3", "~1.2", True), ("1.3.0", "~1.2", False), ("1.9.0", "^1.2", True),
    ("2.0.0", "^1.2", False), ("0.2.5", "^0.2.3", True), ("0.3.0", "^0.2.3", False),
    ("1.4.5", "1.2 - 1.4.5", True), ("1.5.0", "1.2 - 1.4.5", False), ("1.0.0", "<1.2 || >2", True),
    ("2.1.0", ">2", False), ("3.0.0", ">2", True), ("1.2.5", "1.2.x", True),
    ("1.2.5", "!=1.2.x", False), ("1.25.0", ">= 1.20, < 1.30", True),
    ("1.31.0", ">= 1.20 < 1.30", False)])
def test_semver_constraints_as_masterminds_reads_them(version: str, constraint: str,
                                                      ok: bool) -> None:
    assert semver.satisfies(version, constraint) is ok


def test_json_numbers_that_overflow_a_float64_are_refused() -> None:
    with pytest.raises(strvals.StrvalsError):
        strvals.parse_json_into("a=1e400", {})
    assert math.isclose(strvals.parse_json_into("a=1e300", {})["a"], 1e300)
