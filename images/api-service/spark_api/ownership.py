"""Stateless ownership: owner tags and self-authorizing job ids (see the package docstring)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

APP_PREFIX = "sparkapi"
_DRIVER = re.compile(r"^driver-\d{14}-\d{4,}$")
_JOB = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_MAC = re.compile(r"^[A-Za-z0-9_-]{22}$")
_APP_NAME = re.compile(rf"^{APP_PREFIX}\.([0-9a-f]{{16}})\.([a-z0-9][a-z0-9_-]{{0,62}})$")


@dataclass(frozen=True)
class JobRef:
    driver_id: str
    job: str
    mac: str


class Ownership:
    """HMAC helpers keyed by the owner secret shared by every replica."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, message: str) -> bytes:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).digest()

    def owner_tag(self, subject: str) -> str:
        return self._mac(f"owner|{subject}").hex()[:16]

    def app_name(self, subject: str, job: str) -> str:
        return f"{APP_PREFIX}.{self.owner_tag(subject)}.{job}"

    def job_id(self, driver_id: str, job: str, owner_tag: str) -> str:
        mac = base64.urlsafe_b64encode(self._mac(f"job|{driver_id}|{job}|{owner_tag}"))
        return f"{driver_id}.{job}.{mac.decode()[:22]}"

    def owns(self, ref: JobRef, subject: str) -> bool:
        expected = self.job_id(ref.driver_id, ref.job, self.owner_tag(subject))
        return hmac.compare_digest(expected.rsplit(".", 1)[1], ref.mac)


def parse_job_id(job_id: str) -> JobRef | None:
    """Split '<driver>.<job>.<mac>'; None when it cannot be one of ours (answered 404)."""
    parts = job_id.split(".")
    if len(parts) != 3:
        return None
    driver_id, job, mac = parts
    # fullmatch: `$` would let a trailing newline through (and into a URL, a 500 once).
    if not (_DRIVER.fullmatch(driver_id) and _JOB.fullmatch(job) and _MAC.fullmatch(mac)):
        return None
    return JobRef(driver_id, job, mac)


def parse_app_name(name: str) -> tuple[str, str] | None:
    """'sparkapi.<tag>.<job>' -> (tag, job), else None (a driver the API did not submit)."""
    match = _APP_NAME.fullmatch(name)
    return (match.group(1), match.group(2)) if match else None
