"""The docker backend: the real images, one container per pod, one network per run."""
from simulator.backends.docker.backend import DockerBackend

__all__ = ["DockerBackend"]
