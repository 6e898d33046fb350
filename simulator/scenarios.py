"""Scenario files (``scenarios/<name>.yaml``): how a scenario installs and what must then be true.

Closed pydantic models: a typo in a scenario is an error that names the field, never a silently
skipped expectation. Values are helm values (inline ``values`` plus ``set`` strings), the same
thing ``helm install`` would get; the simulator adds only what is outside the chart (the mock
OAuth issuer, the owner Secret, an external master) as ``--set``s.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simulator.run import REPO

SCENARIOS_DIR = REPO / "scenarios"
ClientKind = Literal["ordinary", "admin", "readonly", "none"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ExternalSpark(_Closed):
    """A Spark master (+ workers) the simulator starts OUTSIDE the release, as scenario 3 does."""

    workers: int = Field(1, ge=0, le=4)
    worker_memory: str = Field("512m", alias="workerMemory")


class JobExpectation(_Closed):
    """Submit a catalog job through the API with a client's token; expect a terminal state."""

    job: str
    args: dict[str, Any] = Field(default_factory=dict)
    client: ClientKind = "ordinary"
    outcome: Literal["FINISHED", "FAILED", "KILLED", "ERROR"] = "FINISHED"
    timeout: float = Field(180, gt=0, description="seconds until a terminal state")


class AuthExpectation(_Closed):
    """One API call and the HTTP status it must get (401 without a token, 403 without scope)."""

    client: ClientKind
    action: Literal["submit", "list", "catalog"]
    status: int = Field(ge=100, le=599)


class Expectations(_Closed):
    workloads: list[str] = Field(default_factory=list,
                                 description="components that must run (app.kubernetes.io/"
                                             "component), e.g. master, worker, api")
    absent: list[str] = Field(default_factory=list, description="components that must not exist")
    alive_workers: int | None = Field(None, ge=0, alias="aliveWorkers")
    jobs: list[JobExpectation] = Field(default_factory=list)
    auth: list[AuthExpectation] = Field(default_factory=list)


class Scenario(_Closed):
    name: str
    description: str = ""
    release: str = Field("stack", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=30)
    namespace: str = "default"
    values: dict[str, Any] = Field(default_factory=dict, description="inline helm values")
    values_files: list[str] = Field(default_factory=list, alias="valuesFiles")
    set: list[str] = Field(default_factory=list, description="helm --set strings")
    external_spark: ExternalSpark | None = Field(None, alias="externalSpark")
    expect: Expectations = Field(default_factory=Expectations)

    @field_validator("set")
    @classmethod
    def _set_form(cls, value: list[str]) -> list[str]:
        for item in value:
            if "=" not in item:
                raise ValueError(f"set entry {item!r} must look like key=value")
        return value


class ScenarioError(ValueError):
    """A scenario file is missing or invalid; the message names the file and the field."""


def scenario_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = SCENARIOS_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))
    raise ScenarioError(f"no scenario {name_or_path!r}: give one of {known} or a .yaml path")


def load(name_or_path: str) -> Scenario:
    path = scenario_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}") from exc
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: invalid scenario"]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {loc}: {err['msg']}")
        raise ScenarioError("\n".join(lines)) from exc
    for f in scenario.values_files:
        if not (path.parent / f).exists() and not Path(f).exists():
            raise ScenarioError(f"{path}: valuesFiles entry {f!r} does not exist")
    return scenario


def resolve_values_file(scenario_file: Path, entry: str) -> str:
    p = scenario_file.parent / entry
    return str(p if p.exists() else Path(entry))
