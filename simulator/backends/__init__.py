"""Backends realize a topology: process (default, local processes), docker and kind.

The one place that says which backends exist; everything else asks ``backend_for``.
"""
from __future__ import annotations

import importlib

from simulator.backends.base import Backend, Progress
from simulator.run import RunError, RunState

# name -> "module:class"; None: known, not implemented here yet (the CLI says so, exit 2).
# A backend that cannot run on this machine (kind without kind on PATH) raises
# BackendUnavailable from its constructor, naming what is missing.
_BACKENDS: dict[str, str | None] = {
    "process": "simulator.backends.process:ProcessBackend",
    "docker": "simulator.backends.docker:DockerBackend",
    "kind": "simulator.backends.kind:KindBackend",
}
BACKENDS = tuple(_BACKENDS)
DEFAULT_BACKEND = "process"


class BackendUnavailable(RunError):
    """The backend cannot run on this machine (not implemented, or a tool is missing)."""


def backend_class(name: str) -> type:
    if name not in _BACKENDS:
        raise RunError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    target = _BACKENDS[name]
    if target is None:
        raise BackendUnavailable(f"the {name} backend is not implemented yet; use --backend "
                                 f"process or --backend docker")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def backend_for(state: RunState, progress: Progress) -> Backend:
    """The backend a run was created with, bound to that run's state."""
    return backend_class(state.backend)(state, progress)
