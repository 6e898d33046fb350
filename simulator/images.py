"""Container images without a registry: a Docker engine, the local base image, the stack's images.

Why this exists (docs/design.md section 6): nothing can be pulled here, so the Docker engine is
installed
from Debian (``docker.io``) and started by hand (no systemd), ``debian:bookworm-slim`` is built
locally by ``images/base/build-base.sh``, and each image under ``images/`` is built with the
legacy builder (``DOCKER_BUILDKIT=0``: the docker client here has no buildx). Every step prints
what it starts, what it waits for and how long it took.
"""
from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "images"
BASE_IMAGE = "debian:bookworm-slim"
DOCKERD_LOG = Path(tempfile.gettempdir()) / "spark-stack-dockerd.log"
# Serializes "is dockerd running? else start it" between concurrent callers (tests, engineers).
_LOCK = Path(tempfile.gettempdir()) / "spark-stack-docker.lock"


class ImageError(RuntimeError):
    """Docker is missing or a build failed; the message says what ran and what it printed."""


@dataclass(frozen=True)
class BuiltImage:
    """The result of one build: its tag, how long it took and its size."""

    tag: str
    seconds: float
    size_bytes: int


@dataclass(frozen=True)
class _ImageSpec:
    dockerfile: str
    # Paths copied into a fresh build context; None means the folder images/<name>/ itself.
    context_parts: tuple[str, ...] | None = None


# Each image's build context. spark-job and api-service are their own folders; the mock OAuth
# image needs simulator/oauth from the repository (see images/mock-oauth/Dockerfile), so a small
# context holding just those paths is assembled instead of sending the whole repository.
IMAGE_SPECS: dict[str, _ImageSpec] = {
    "spark-job": _ImageSpec("Dockerfile"),
    "api-service": _ImageSpec("Dockerfile"),
    "mock-oauth": _ImageSpec("images/mock-oauth/Dockerfile",
                             ("images/mock-oauth", "simulator/oauth")),
}


def _say(message: str) -> None:
    """Progress goes to stderr: stdout is the simulator's results (``up --json``: one object)."""
    print(f"[images] {message}", file=sys.stderr, flush=True)


def project_version() -> str:
    """The project version from pyproject.toml: images are tagged ``spark-stack/<name>:<ver>``."""
    text = (REPO / "pyproject.toml").read_text()
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not match:
        raise ImageError("no version = \"...\" in pyproject.toml")
    return match.group(1)


def _docker_env() -> dict[str, str]:
    return {**os.environ, "DOCKER_BUILDKIT": "0"}


def docker_reachable() -> bool:
    """True when a docker client is on PATH and its engine answers."""
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                            capture_output=True, text=True, timeout=30)
    return result.returncode == 0


def ensure_docker(timeout: float = 60.0) -> None:
    """Make a Docker engine answer: install ``docker.io`` if dockerd is missing, start it if idle.

    Installing needs root and Debian's apt. Only one caller at a time may start dockerd (a file
    lock): two engines on one host fight over docker0 and the socket.
    """
    if docker_reachable():
        return
    with open(_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if docker_reachable():
            return
        if shutil.which("dockerd") is None:
            if os.geteuid() != 0 or shutil.which("apt-get") is None:
                raise ImageError("no dockerd: install Docker (Debian: apt-get install docker.io) "
                                 "or point DOCKER_HOST at an engine")
            began = time.monotonic()
            _say("installing docker.io with apt-get (~10 s)")
            result = subprocess.run(["apt-get", "install", "-y", "docker.io"],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                _say("apt-get install failed; running apt-get update and retrying")
                subprocess.run(["apt-get", "update"], capture_output=True, text=True)
                result = subprocess.run(["apt-get", "install", "-y", "docker.io"],
                                        capture_output=True, text=True)
            if result.returncode != 0:
                raise ImageError(f"apt-get install docker.io failed:\n{result.stderr[-2000:]}")
            _say(f"docker.io installed in {time.monotonic() - began:.0f} s")
        if shutil.which("docker") is None:
            raise ImageError("dockerd is installed but no docker client is on PATH")
        began = time.monotonic()
        _say(f"starting dockerd (log {DOCKERD_LOG}); waiting up to {timeout:.0f} s")
        with open(DOCKERD_LOG, "ab") as log:
            # Its own session: it must outlive this process (other tests and builds use it).
            subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if docker_reachable():
                _say(f"dockerd ready in {time.monotonic() - began:.1f} s")
                return
            time.sleep(0.5)
        tail = "\n".join(DOCKERD_LOG.read_text(errors="replace").splitlines()[-20:])
        raise ImageError(f"dockerd did not answer within {timeout:.0f} s; log tail:\n{tail}")


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def image_size(tag: str) -> int:
    out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", tag],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def ensure_base_image() -> None:
    """Build ``debian:bookworm-slim`` locally unless it exists (images/base/build-base.sh)."""
    ensure_docker()
    if image_exists(BASE_IMAGE):
        return
    began = time.monotonic()
    _say(f"building the base image {BASE_IMAGE} with debootstrap (~25-60 s)")
    result = subprocess.run(["bash", str(IMAGES / "base" / "build-base.sh")],
                            capture_output=True, text=True, env=_docker_env())
    if result.returncode != 0:
        raise ImageError(f"build-base.sh failed:\n{result.stdout[-2000:]}\n"
                         f"{result.stderr[-2000:]}")
    _say(f"base image ready in {time.monotonic() - began:.0f} s")


def image_tag(name: str, version: str | None = None) -> str:
    return f"spark-stack/{name}:{version or project_version()}"


def _context_files(name: str) -> list[tuple[str, Path]]:
    """(path in the context, file) for every file ``docker build`` would send, sorted."""
    spec = IMAGE_SPECS[name]
    roots = ([(".", IMAGES / name)] if spec.context_parts is None
             else [(part, REPO / part) for part in spec.context_parts])
    ignore = ["**/__pycache__", "**/*.pyc", "__pycache__", "*.pyc"]
    dockerignore = IMAGES / name / ".dockerignore"
    if spec.context_parts is None and dockerignore.exists():
        ignore += [line.strip().rstrip("/") for line in dockerignore.read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
    out = []
    for prefix, root in roots:
        for path in sorted(root.rglob("*")):
            rel = os.path.normpath(os.path.join(prefix, str(path.relative_to(root))))
            parts = rel.split(os.sep)
            if path.is_dir() or any(
                    fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(parts[-1], pat.lstrip("*/"))
                    or any(fnmatch.fnmatch(p, pat.lstrip("*/")) for p in parts[:-1])
                    for pat in ignore):
                continue
            out.append((rel, path))
    dockerfile = (IMAGES / name / spec.dockerfile if spec.context_parts is None
                  else REPO / spec.dockerfile)
    if all(path != dockerfile for _, path in out):  # .dockerignore may list it; it still counts
        out.append(("Dockerfile", dockerfile))
    return out


def context_hash(name: str) -> str:
    """A digest of the image's build context (names, modes, contents) and of the base image:
    the image is rebuilt only when one of them changed."""
    digest = hashlib.sha256()
    for rel, path in _context_files(name):
        digest.update(f"{rel}\0{path.stat().st_mode & 0o111}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    base = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", BASE_IMAGE],
                          capture_output=True, text=True).stdout.strip()
    digest.update(base.encode())
    return digest.hexdigest()[:12]


def ensure_image(name: str) -> str:
    """The image built from the current ``images/<name>``: ``spark-stack/<name>:ctx-<hash>``.

    Built (and also tagged ``:<version>``) only when no image for this exact build context
    exists yet; otherwise returns at once.
    """
    ensure_base_image()
    tag = f"spark-stack/{name}:ctx-{context_hash(name)}"
    if image_exists(tag):
        _say(f"{tag} is up to date (build context unchanged)")
        # :<version> (what the chart names) follows the current context too
        subprocess.run(["docker", "tag", tag, image_tag(name)], check=True, capture_output=True)
        return tag
    built = build_image(name)
    subprocess.run(["docker", "tag", built.tag, tag], check=True, capture_output=True)
    return tag


def build_command(name: str, context: Path, version: str | None = None) -> list[str]:
    """The ``docker build`` of ``images/<name>`` from ``context`` (run with DOCKER_BUILDKIT=0)."""
    return ["docker", "build", "-t", image_tag(name, version), "-f",
            str(context / IMAGE_SPECS[name].dockerfile), str(context)]


def build_image(name: str, version: str | None = None) -> BuiltImage:
    """Build ``images/<name>`` as ``spark-stack/<name>:<version>`` with the legacy builder.

    Layers are cached by Docker, so a rebuild without changes takes seconds.
    """
    if name not in IMAGE_SPECS:
        raise ImageError(f"unknown image '{name}': choose one of {sorted(IMAGE_SPECS)}")
    ensure_base_image()
    spec = IMAGE_SPECS[name]
    tag = image_tag(name, version)
    with tempfile.TemporaryDirectory(prefix=f"spark-stack-ctx-{name}-") as scratch:
        if spec.context_parts is None:
            context = IMAGES / name
        else:
            context = Path(scratch)
            for part in spec.context_parts:
                shutil.copytree(REPO / part, context / part,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        command = build_command(name, context, version)
        began = time.monotonic()
        _say(f"building {tag} from {context} (cold: ~60-120 s)")
        log_path = Path(tempfile.gettempdir()) / f"spark-stack-build-{name}.log"
        with open(log_path, "w") as log:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                    env=_docker_env())
        seconds = time.monotonic() - began
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        raise ImageError(f"docker build of {name} failed after {seconds:.0f} s "
                         f"(full log {log_path}):\n{tail}")
    built = BuiltImage(tag, seconds, image_size(tag))
    _say(f"built {tag} in {seconds:.0f} s, {built.size_bytes / 2**20:.0f} MiB")
    return built


def main() -> None:
    """``python -m simulator.images [--ensure-docker] [name...]``: build the named images
    (default: all), or with ``--ensure-docker`` only make an engine answer (install, start)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m simulator.images", description=main.__doc__)
    parser.add_argument("--ensure-docker", action="store_true",
                        help="install and start a Docker engine if none answers, then exit")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"images to build: {', '.join(sorted(IMAGE_SPECS))}")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(IMAGE_SPECS))
    if unknown:
        parser.error(f"unknown image(s) {unknown}: choose from {sorted(IMAGE_SPECS)}")
    if args.ensure_docker:
        ensure_docker()
        return
    for name in args.names or list(IMAGE_SPECS):
        build_image(name)


if __name__ == "__main__":
    main()
