"""Versions and constraints the way Helm reads them (Masterminds/semver v3), for ``kubeVersion``.

Helm refuses to render a chart whose Chart.yaml ``kubeVersion`` constraint the target Kubernetes
version does not meet (pkg/action/action.go ``renderResources``, via
pkg/chart/v2/util/compatible.go ``IsCompatibleRange``), and parses ``--kube-version`` with the
same lenient parser (``1.24`` is ``v1.24.0``). A port of the parts of
https://github.com/Masterminds/semver/blob/master/constraints.go and version.go that those two
calls use: ``||`` groups of space- or comma-separated comparisons (``=``, ``!=``, ``>``, ``<``,
``>=``, ``<=``, ``~``, ``^``, ``x`` wildcards, ``A - B`` ranges), and the rule that a pre-release
version only matches a group that names a pre-release itself (why charts write ``>=1.25.0-0``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_CV = (r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
       r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?")
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_VERSION = re.compile(r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
                      r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?")
_ONE = re.compile(rf"^\s*({_OPS})\s*({_CV})\s*$")
_FIND = re.compile(rf"({_OPS})\s*({_CV})")
_VALID = re.compile(rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*$")
_RANGE = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")


class SemverError(ValueError):
    """A version or constraint Helm could not parse either."""


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: str = ""
    metadata: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """semver.NewVersion: lenient (``v`` prefix, missing minor/patch are 0)."""
        m = _VERSION.fullmatch(text)
        if not m:
            raise SemverError(f"{text!r}: Invalid Semantic Version")
        pre, meta = m[5] or "", m[8] or ""
        for part in pre.split(".") if pre else ():
            if part.isdigit() and len(part) > 1 and part[0] == "0":
                raise SemverError(f"{text!r}: Version segment starts with 0")
        return cls(int(m[1]), int((m[2] or ".0")[1:]), int((m[3] or ".0")[1:]), pre, meta)

    def __str__(self) -> str:
        return (f"{self.major}.{self.minor}.{self.patch}" + (f"-{self.pre}" if self.pre else "")
                + (f"+{self.metadata}" if self.metadata else ""))

    def compare(self, other: Version) -> int:
        for a, b in ((self.major, other.major), (self.minor, other.minor),
                     (self.patch, other.patch)):
            if a != b:
                return -1 if a < b else 1
        if self.pre == other.pre:
            return 0
        if not self.pre or not other.pre:
            return 1 if not self.pre else -1
        return _compare_pre(self.pre, other.pre)


def _compare_pre(a: str, b: str) -> int:
    sa, sb = a.split("."), b.split(".")
    for i in range(max(len(sa), len(sb))):
        x = sa[i] if i < len(sa) else ""
        y = sb[i] if i < len(sb) else ""
        if x == y:
            continue
        if not x or not y:
            return -1 if not x else 1
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return 1 if x > y else -1
    return 0


def _is_x(part: str) -> bool:
    return part in ("x", "X", "*")


@dataclass(frozen=True)
class _Constraint:
    op: str
    con: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    @classmethod
    def parse(cls, text: str) -> _Constraint:
        m = _ONE.match(text)
        if not m:
            raise SemverError(f"improper constraint: {text}")
        op, major, minor, patch, pre = m[1], m[3], (m[4] or ""), (m[5] or ""), (m[6] or "")
        dirty = minor_dirty = patch_dirty = False
        if _is_x(major):
            version, dirty = f"0.0.0{pre}", True
        elif _is_x(minor[1:]) or not minor:
            version, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
        elif _is_x(patch[1:]) or not patch:
            version, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
        else:
            version = m[2]
        return cls(op, Version.parse(version), dirty, minor_dirty, patch_dirty)

    def check(self, v: Version) -> bool:
        c, op = self.con, self.op
        if op in ("", "="):
            return self._tilde(v) if self.dirty else v.compare(c) == 0
        if op == "!=":
            if self.dirty:
                if c.major != v.major:
                    return True
                if self.minor_dirty:
                    return False
                if c.minor != v.minor:
                    return True
                if self.patch_dirty:
                    return (bool(v.pre or c.pre) and _compare_pre(v.pre, c.pre) != 0)
            return v.compare(c) != 0
        if op == ">":
            if not self.dirty:
                return v.compare(c) == 1
            if v.major != c.major:
                return v.major > c.major
            if self.minor_dirty:
                return False
            if self.patch_dirty:
                return v.minor > c.minor
            return v.compare(c) == 1
        if op == "<":
            return v.compare(c) < 0
        if op in (">=", "=>"):
            return v.compare(c) >= 0
        if op in ("<=", "=<"):
            if not self.dirty:
                return v.compare(c) <= 0
            return not (v.major > c.major
                        or (v.major == c.major and v.minor > c.minor and not self.minor_dirty))
        if op in ("~", "~>"):
            return self._tilde(v)
        return self._caret(v)

    def _tilde(self, v: Version) -> bool:
        c = self.con
        if v.compare(c) < 0:
            return False
        if (c.major, c.minor, c.patch) == (0, 0, 0) and not self.minor_dirty \
                and not self.patch_dirty:
            return True
        return v.major == c.major and (v.minor == c.minor or self.minor_dirty)

    def _caret(self, v: Version) -> bool:
        c = self.con
        if v.compare(c) < 0:
            return False
        if c.major > 0 or self.minor_dirty:
            return v.major == c.major
        if v.major > 0:
            return False
        if c.minor > 0 or self.patch_dirty:
            return v.minor == c.minor
        if v.minor > 0:
            return False
        return v.patch == c.patch


def satisfies(version: str | Version, constraint: str) -> bool:
    """semver.NewConstraint(constraint).Check(version); ``SemverError`` if either is malformed."""
    v = version if isinstance(version, Version) else Version.parse(version)
    for old in _RANGE.finditer(constraint):
        constraint = constraint.replace(old[0], f">= {old[1]}, <= {old[11]} ", 1)
    for group in constraint.split("||"):
        if not _VALID.match(group):
            raise SemverError(f"improper constraint: {group}")
        parts = [_Constraint.parse(m[0]) for m in _FIND.finditer(group)] or \
            [_Constraint.parse(group)]
        include_pre = any(p.con.pre for p in parts)
        if v.pre and not include_pre:
            continue
        if all(p.check(v) for p in parts):
            return True
    return False
