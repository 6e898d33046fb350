"""The process backend: every pod one local process on its own loopback address."""
from simulator.backends.process.backend import ProcessBackend

__all__ = ["ProcessBackend"]
