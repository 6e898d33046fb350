"""The kind backend: a kind cluster per run, the release installed by the real helm CLI."""
from simulator.backends.kind.backend import KindBackend

__all__ = ["KindBackend"]
