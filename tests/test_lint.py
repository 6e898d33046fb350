"""yamllint (the project's .yamllint) and shellcheck (.shellcheckrc) find nothing.

yamllint: the charts' values files, chart/ci/, scenarios/, the workflows, and what `helm template`
prints for the specification's three commands (the real helm 4 CLI, simulator/helm_cli.py).
shellcheck (Debian package): images/**/*.sh and .ci/run.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from chart.test_helm_cli import SPEC_COMMANDS  # release -> (release, --set expressions)
from simulator import helm_cli

ROOT = Path(__file__).resolve().parents[1]
YAML_FILES = sorted([ROOT / "chart" / "values.yaml", *ROOT.glob("chart/charts/*/values.yaml"),
                     *ROOT.glob("chart/ci/*.yaml"), *ROOT.glob("scenarios/*.yaml"),
                     *ROOT.glob(".github/workflows/*.yml")])
SHELL_FILES = sorted([*ROOT.glob("images/**/*.sh"), ROOT / ".ci" / "run"])
# Findings in files the chart owner keeps, reported to them (issue 11 item 6); each case fails
# as soon as its file is clean (strict xfail), so the entry must then be removed.
PENDING: dict[str, str] = {}  # file or release -> a finding reported but not fixed yet


def _pending(key: str) -> list[pytest.MarkDecorator]:
    if key not in PENDING:
        return []
    return [pytest.mark.xfail(strict=True, reason=f"reported to the chart owner: {PENDING[key]}")]


@pytest.fixture(scope="session")
def yamllint_config():
    config = pytest.importorskip("yamllint.config", reason="yamllint is not installed "
                                 "(pip install yamllint; it is in the test extra)")
    return config.YamlLintConfig(file=str(ROOT / ".yamllint"))


def _yamllint(text: str, config, name: str) -> list[str]:
    from yamllint import linter
    return [f"{name}:{p.line}:{p.column}: {p.desc} ({p.rule})"
            for p in linter.run(text, config, name)]


@pytest.mark.parametrize("path", [
    pytest.param(p, id=str(p.relative_to(ROOT)), marks=_pending(str(p.relative_to(ROOT))))
    for p in YAML_FILES])
def test_yaml_files_lint_clean(path: Path, yamllint_config) -> None:
    findings = _yamllint(path.read_text(encoding="utf-8"), yamllint_config,
                         str(path.relative_to(ROOT)))
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("release", [pytest.param(r, marks=_pending(r)) for r in SPEC_COMMANDS])
def test_rendered_output_lints_clean(release: str, yamllint_config, tmp_path: Path) -> None:
    try:
        helm = helm_cli.helm_binary("4")
    except helm_cli.HelmUnavailable as exc:
        pytest.skip(f"no helm CLI to render with: {exc}")
    sets = [arg for expr in SPEC_COMMANDS[release][1] for arg in ("--set", expr)]
    done = subprocess.run([str(helm), "template", release, "./deploy/charts", *sets], cwd=ROOT,
                          capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent",
                               "HOME": str(tmp_path)}, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    # helm prints each hook as "%s\n" after its text, which leaves a blank line of helm's own
    # before the next document: not the chart's, so each document's trailing newlines go.
    text = "\n---\n".join(doc.rstrip("\n") for doc in done.stdout.split("\n---\n")) + "\n"
    findings = _yamllint(text, yamllint_config, f"helm template {release}")
    assert not findings, "\n".join(findings)


def test_yamllint_does_find_what_it_should(yamllint_config) -> None:
    findings = _yamllint("a: 1\na: 2\nb: " + "x" * 120 + "\n", yamllint_config, "bad.yaml")
    assert any("key-duplicates" in f for f in findings)
    assert any("line-length" in f for f in findings)


@pytest.fixture(scope="session")
def shellcheck() -> str:
    path = shutil.which("shellcheck")
    if path is None:
        pytest.skip("shellcheck is not installed (Debian: apt-get install shellcheck)")
    return path


def test_shell_scripts_pass_shellcheck(shellcheck: str) -> None:
    assert len(SHELL_FILES) >= 5
    done = subprocess.run([shellcheck, "-f", "gcc", *map(str, SHELL_FILES)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_does_find_what_it_should(shellcheck: str, tmp_path: Path) -> None:
    script = tmp_path / "bad.sh"
    script.write_text("#!/bin/bash\nrm -rf $1/tmp\n")
    done = subprocess.run([shellcheck, "-f", "gcc", str(script)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode != 0 and "SC2086" in done.stdout
