"""Scenario files (``scenarios/<name>.yaml``): how a scenario installs and what must then be true.

Closed pydantic models: a typo in a scenario is an error that names the field, never a silently
skipped expectation. Values are helm values (inline ``values`` plus ``set`` strings), the same
thing ``helm install`` would get; the simulator adds only what is outside the chart (the mock
OAuth issuer, the owner Secret, an external master) as ``--set``s.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

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


# ------------------------------------------------------------------ faults (simulator/faults.py)
# A client in a fault's job: a kind, or one of the two ordinary clients by id (ownership: each
# must see its own jobs and only those).
FaultClient = Literal["ordinary", "admin", "readonly", "sim-client-1", "sim-client-2"]
# What a fault acts on: the pods by component (``worker`` is the first, ``worker[N]`` the Nth in
# name order, ``worker hosting JOB`` the one running JOB's driver) and the mock OAuth server.
TARGET = re.compile(r"^(master|api|oauth|worker|worker\[(\d+)\]|worker hosting ([\w-]+))$")
WHEN = re.compile(r"^job ([\w-]+) (SUBMITTED|RUNNING)$")
DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")
TERMINAL_STATES = Literal["FINISHED", "FAILED", "KILLED", "ERROR"]


class FaultJob(_Closed):
    """Jobs a fault step submits when it begins (``count`` of them, at once); each must end in
    ``outcome`` (with ``message`` in its message, if given) and be listed for its owner."""

    name: str = Field(pattern=r"^[\w-]+$", description="how `when` and `worker hosting` name it")
    job: str
    args: dict[str, Any] = Field(default_factory=dict)
    client: FaultClient = "ordinary"
    count: int = Field(1, ge=1, le=50)
    outcome: TERMINAL_STATES = "FINISHED"
    message: str | None = Field(None, description="a substring the job's final message must have")
    timeout: float = Field(300, gt=0, description="seconds until a terminal state")


class Scale(_Closed):
    workers: int = Field(ge=0, le=8)


class KnownGap(_Closed):
    """A check the stack is known to fail today, named by the start of its name after the
    step's label (e.g. "earlier steps' jobs still listed"), with the reason. The check still
    runs: failing, it is reported as GAP with the reason; passing, it fails the run, so the
    marker is removed once the gap is closed (like a strict xfail)."""

    check: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class Fault(_Closed):
    """One step: submit ``jobs``, wait for the trigger, do ONE action (or none: load only), then
    check every expectation. A background poller of the API runs through the whole step."""

    name: str = Field(pattern=r"^[\w-]+$")
    jobs: list[FaultJob] = Field(default_factory=list)
    after: float | str = Field(0, description="trigger: seconds after the step began (3 or '3s')")
    when: str | None = Field(None, description="trigger: 'job NAME RUNNING' (or SUBMITTED)")
    kill: str | None = Field(None, description="SIGKILL: master, api, oauth, worker, worker[N], "
                                               "'worker hosting JOB'")
    scale: Scale | None = None
    restart: str | None = Field(None, description="start it again: oauth, or a pod (stopped with "
                                                  "its grace period, then started)")
    recover_within: float | None = Field(None, gt=0, alias="recoverWithin",
                                         description="seconds until the acted-on component "
                                                     "answers again")
    no_5xx: bool = Field(True, alias="no5xx",
                         description="no 5xx but 503 with Retry-After during the step")
    timeout: float = Field(60, gt=0, description="seconds `when` may wait for its job")
    known_gap: KnownGap | None = Field(None, alias="knownGap",
                                       description="a check of this step that fails today, "
                                                   "and why (strict: passing fails the run)")

    @field_validator("after")
    @classmethod
    def _after(cls, value: float | str) -> float:
        if isinstance(value, str):
            m = DURATION.match(value.strip())
            if not m:
                raise ValueError(f"after {value!r}: give seconds, e.g. 3 or '3s'")
            value = float(m.group(1))
        if value < 0:
            raise ValueError("after: must be >= 0 seconds")
        return float(value)

    @field_validator("when")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None and not WHEN.match(value):
            raise ValueError(f"when {value!r}: write 'job NAME RUNNING' (or SUBMITTED), NAME "
                             f"being a job of this or an earlier step")
        return value

    @field_validator("kill", "restart")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and not TARGET.match(value):
            raise ValueError(f"{value!r}: give master, api, oauth, worker, worker[N] "
                             f"or 'worker hosting JOB'")
        return value

    @model_validator(mode="after")
    def _one_action(self) -> Fault:
        actions = [a for a in ("kill", "scale", "restart") if getattr(self, a) is not None]
        if len(actions) > 1:
            raise ValueError(f"fault {self.name}: one action per step, got {actions}; "
                             f"use one step per action")
        if self.when and self.after:
            raise ValueError(f"fault {self.name}: give `after` or `when`, not both")
        if self.recover_within is not None and not (self.kill or self.restart or self.scale):
            raise ValueError(f"fault {self.name}: recoverWithin needs a kill, restart or scale")
        return self


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
    faults: list[Fault] = Field(default_factory=list,
                                description="fault steps run in order after `expect` "
                                            "(simulator/faults.py)")

    @field_validator("set")
    @classmethod
    def _set_form(cls, value: list[str]) -> list[str]:
        for item in value:
            if "=" not in item:
                raise ValueError(f"set entry {item!r} must look like key=value")
        return value

    @model_validator(mode="after")
    def _fault_names(self) -> Scenario:
        """`when` and `worker hosting` name a job of the same or an earlier step; names are
        unique (they label results)."""
        steps: set[str] = set()
        jobs: set[str] = set()
        for i, fault in enumerate(self.faults):
            where = f"faults.{i} ({fault.name})"
            if fault.name in steps:
                raise ValueError(f"{where}: the step name is used twice")
            steps.add(fault.name)
            for job in fault.jobs:
                if job.name in jobs:
                    raise ValueError(f"{where}: job name {job.name!r} is used twice")
                jobs.add(job.name)
            for ref in (fault.when and WHEN.match(fault.when).group(1),
                        fault.kill and TARGET.match(fault.kill).group(3),
                        fault.restart and TARGET.match(fault.restart).group(3)):
                if ref and ref not in jobs:
                    raise ValueError(f"{where}: no job named {ref!r} in this or an earlier "
                                     f"step; known: {sorted(jobs)}")
        return self


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


def names(faults: bool = True) -> list[str]:
    """Every scenario in scenarios/ by name; ``faults=False`` leaves out those with ``faults:``
    steps (the steady-state end-to-end tests; `tox -e faults` runs the others)."""
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml") if faults or not load(p.stem).faults)


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
            lines.append(f"  {loc}: {err['msg']}" if loc else f"  {err['msg']}")
        raise ScenarioError("\n".join(lines)) from exc
    for f in scenario.values_files:
        if not (path.parent / f).exists() and not Path(f).exists():
            raise ScenarioError(f"{path}: valuesFiles entry {f!r} does not exist")
    return scenario


def resolve_values_file(scenario_file: Path, entry: str) -> str:
    p = scenario_file.parent / entry
    return str(p if p.exists() else Path(entry))
