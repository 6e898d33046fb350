"""The `faults:` section of scenario files and the `chaos` command line, without a JVM: a bad
fault step is refused naming the field and the fix; scenarios/faults.yaml covers the issue's
Done-when faults. The steps themselves run against a live stack in `tox -e faults` and in
test_faults_live.py."""
from __future__ import annotations

import pytest
import yaml

from simulator import cli
from simulator.scenarios import ScenarioError, load

BASE = {"name": "t", "release": "t"}


def _load(tmp_path, faults: list) -> object:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({**BASE, "faults": faults}))
    return load(str(path))


def _refused(tmp_path, faults: list) -> str:
    with pytest.raises(ScenarioError) as exc:
        _load(tmp_path, faults)
    return str(exc.value)


def test_the_faults_scenario_covers_the_done_when_rows():
    scenario = load("faults")
    steps = {f.name: f for f in scenario.faults}
    assert steps["api-sigkill"].kill == "api" and steps["api-sigkill"].recover_within == 15
    master = steps["master-sigkill"]
    assert master.kill == "master" and master.when == "job nap RUNNING"
    assert master.jobs[0].job == "sleep" and master.jobs[0].outcome == "FINISHED"
    assert scenario.values["spark-job"]["spark"]["master"]["recovery"]["mode"] != "NONE"
    crash = steps["worker-crash"]
    assert crash.kill == "worker hosting doomed" and crash.jobs[0].message == "worker"
    burst = steps["burst-of-20"].jobs
    assert sum(j.count for j in burst) == 20 and {j.client for j in burst} == {
        "sim-client-1", "sim-client-2"}
    down = steps["scale-down"]
    assert down.scale.workers == 1 and sum(j.count for j in down.jobs) == 3
    assert scenario.values["spark-job"]["spark"]["worker"]["replicas"] == 4
    assert steps["oauth-sigkill"].kill == "oauth" and steps["oauth-restart"].restart == "oauth"


def test_a_valid_step_parses_durations_and_targets(tmp_path):
    scenario = _load(tmp_path, [
        {"name": "a", "jobs": [{"name": "j", "job": "sleep", "count": 2}], "after": "2.5s",
         "kill": "worker[1]", "recoverWithin": 30},
        {"name": "b", "when": "job j RUNNING", "restart": "worker hosting j"},
        {"name": "c", "scale": {"workers": 0}, "after": 3, "no5xx": False}])
    a, b, c = scenario.faults
    assert a.after == 2.5 and a.kill == "worker[1]" and a.jobs[0].count == 2
    assert b.restart == "worker hosting j" and b.after == 0
    assert c.scale.workers == 0 and c.after == 3.0 and c.no_5xx is False


@pytest.mark.parametrize("step, field, words", [
    ({"name": "x", "kill": "database"}, "faults.0.kill", "master, api, oauth"),
    ({"name": "x", "restart": "worker[a]"}, "faults.0.restart", "worker[N]"),
    ({"name": "x", "after": "3 minutes", "kill": "api"}, "faults.0.after", "3s"),
    ({"name": "x", "when": "job j FINISHED", "kill": "api"}, "faults.0.when", "RUNNING"),
    ({"name": "x", "kill": "api", "scale": {"workers": 1}}, "faults.0", "one action per step"),
    ({"name": "x", "kill": "api", "after": 1, "when": "job j RUNNING"}, "faults.0",
     "not both"),
    ({"name": "x", "recoverWithin": 5}, "faults.0", "needs a kill"),
    ({"name": "x", "kill": "api", "recoverWithin": 0}, "faults.0.recoverWithin", "greater"),
    ({"name": "x", "kill": "api", "recoverwithin": 5}, "faults.0.recoverwithin", "not permitted"),
    ({"name": "x", "scale": {"workers": -1}}, "faults.0.scale.workers", "greater"),
    ({"name": "x", "jobs": [{"name": "j", "job": "pi", "client": "root"}]},
     "faults.0.jobs.0.client", "sim-client-1"),
    ({"name": "x", "jobs": [{"name": "j", "job": "pi", "outcome": "DONE"}]},
     "faults.0.jobs.0.outcome", "FINISHED"),
    ({"name": "x", "jobs": [{"name": "j", "job": "pi", "count": 0}]},
     "faults.0.jobs.0.count", "greater"),
])
def test_a_bad_step_is_refused_naming_the_field(tmp_path, step, field, words):
    text = _refused(tmp_path, [step])
    line = next((ln for ln in text.splitlines() if ln.strip().startswith(field + ":")), None)
    assert line is not None, text
    assert words in line, text


@pytest.mark.parametrize("faults, words", [
    ([{"name": "a", "when": "job nap RUNNING", "kill": "master"}], "no job named 'nap'"),
    ([{"name": "a", "kill": "worker hosting ghost"}], "no job named 'ghost'"),
    ([{"name": "a"}, {"name": "a"}], "step name is used twice"),
    ([{"name": "a", "jobs": [{"name": "j", "job": "pi"}]},
      {"name": "b", "jobs": [{"name": "j", "job": "pi"}]}], "job name 'j' is used twice"),
])
def test_steps_name_jobs_that_exist(tmp_path, faults, words):
    text = _refused(tmp_path, faults)
    assert words in text and "faults." in text, text


def test_a_later_step_may_name_an_earlier_steps_job(tmp_path):
    scenario = _load(tmp_path, [{"name": "a", "jobs": [{"name": "j", "job": "sleep"}]},
                                {"name": "b", "when": "job j RUNNING", "kill": "master"}])
    assert [f.name for f in scenario.faults] == ["a", "b"]


def test_chaos_command_line(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["chaos", "r1", "kill", "worker[2]", "--wait", "30"])
    assert (args.action, args.target, args.wait) == ("kill", ["worker[2]"], 30.0)
    args = parser.parse_args(["chaos", "r1", "scale", "workers", "3"])
    assert args.target == ["workers", "3"]
    with pytest.raises(SystemExit):
        parser.parse_args(["chaos", "r1", "explode", "api"])
    assert "invalid choice" in capsys.readouterr().err


def test_chaos_on_an_unknown_run_is_one_error_line(capsys, runs_dir):
    assert cli.main(["chaos", "no-such-run", "kill", "api"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: no run 'no-such-run'"), err


def _gap_step(tmp_path):
    return _load(tmp_path, [{"name": "m", "kill": "master",
                             "knownGap": {"check": "earlier steps", "reason": "why"}}]).faults[0]


def test_a_known_gap_that_fails_is_reported_not_held_against_the_run(tmp_path, capsys):
    from simulator.check import CheckResult
    from simulator.faults import _known_gap
    step = _gap_step(tmp_path)
    failing = CheckResult("fault m: earlier steps' jobs still listed", False, "2 missing")
    marked = _known_gap(failing, step)
    assert marked.ok and marked.gap == "why" and marked.detail == "2 missing"
    other = CheckResult("fault m: master within 60s", False, "NOT within 60s")
    assert _known_gap(other, step) is other                # only the named check


def test_a_known_gap_that_passes_fails_the_run_so_the_marker_is_removed(tmp_path):
    from simulator.check import CheckResult
    from simulator.faults import _known_gap
    passing = CheckResult("fault m: earlier steps' jobs still listed", True, "all listed")
    marked = _known_gap(passing, _gap_step(tmp_path))
    assert not marked.ok and "remove `knownGap`" in marked.detail and marked.gap is None


def test_a_known_gap_needs_a_check_and_a_reason(tmp_path):
    words = _refused(tmp_path, [{"name": "m", "kill": "master", "knownGap": {"check": "x"}}])
    assert "faults.0.knownGap.reason" in words
