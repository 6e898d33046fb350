"""Same software on every backend: the process backend runs the job API and the mock OAuth
server with exactly the versions their images pin, and with the same event loop and HTTP parser
(uvloop, httptools)."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = [REPO / "images" / "api-service" / "requirements.txt",
                REPO / "images" / "mock-oauth" / "requirements.txt"]


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
            assert m, f"{path.name}: {line!r} is not an exact pin (name==version)"
            out[m.group(1).lower()] = m.group(3)
    return out


@pytest.mark.parametrize("path", REQUIREMENTS, ids=lambda p: p.parent.name)
def test_installed_versions_are_the_images_pins(path):
    wrong = {name: (want, importlib.metadata.version(name)) for name, want in pins(path).items()
             if importlib.metadata.version(name) != want}
    assert wrong == {}, f"{path}: pinned vs installed here (tox deps install the pins): {wrong}"


def test_the_images_agree_with_each_other():
    api, oauth = (pins(p) for p in REQUIREMENTS)
    assert {k: (api[k], oauth[k]) for k in api.keys() & oauth.keys() if api[k] != oauth[k]} == {}


def test_the_same_http_parser_as_the_images():
    pinned = pins(REQUIREMENTS[0])
    for optional in ("httptools", "uvloop"):
        installed = importlib.util.find_spec(optional) is not None
        assert installed == (optional in pinned), (
            f"{optional} is {'' if installed else 'not '}installed here but "
            f"{'' if optional in pinned else 'not '}pinned for the image: uvicorn would parse "
            f"requests differently on the two backends")
