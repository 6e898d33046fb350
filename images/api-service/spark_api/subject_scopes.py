"""Scopes for tokens that carry none: Kubernetes ServiceAccount tokens, mapped by subject.

A projected ServiceAccount token has ``sub = system:serviceaccount:<namespace>:<name>`` and no
``scope`` claim, so without a mapping every call it makes is refused with 403. The mapping
(``SPARK_API_OIDC_SUBJECT_SCOPES``, a JSON object) grants scopes by subject pattern:

- ``"system:serviceaccount:team-a:builder"`` matches that subject exactly;
- ``"system:serviceaccount:team-a:*"`` matches every subject starting with the text before the
  ``*`` (a single ``*``, only at the end: no other globbing, so a pattern cannot match more than
  it visibly says).

An exact match wins; otherwise the longest matching prefix (the most specific pattern). Only
tokens WITHOUT a ``scope`` claim are looked up: a token that carries one (even an empty one) keeps
exactly the scopes its issuer put in it, so the mapping can never widen a scoped token.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KNOWN_SCOPES = frozenset({"jobs:read", "jobs:submit", "jobs:admin"})
SETTING = "SPARK_API_OIDC_SUBJECT_SCOPES"


@dataclass(frozen=True)
class SubjectScopes:
    """Validated subject-pattern -> scopes table; empty means 'grant nothing'."""

    exact: Mapping[str, frozenset[str]] = field(default_factory=dict)
    prefixes: tuple[tuple[str, frozenset[str]], ...] = ()  # longest prefix first

    @classmethod
    def parse(cls, raw: Any) -> "SubjectScopes":
        """From a JSON string or a dict; a ValueError names the setting, the pattern and the fix."""
        if raw is None or raw == "":
            return cls()
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"{SETTING} is not valid JSON ({exc.msg}): expected an object "
                                 '{"system:serviceaccount:<ns>:*": "jobs:read jobs:submit"}') \
                    from None
        if not isinstance(raw, Mapping):
            raise ValueError(f"{SETTING} must be a JSON object of pattern -> space-separated "
                             f"scopes, got {type(raw).__name__}")
        exact: dict[str, frozenset[str]] = {}
        prefixes: list[tuple[str, frozenset[str]]] = []
        for pattern, scopes in raw.items():
            if not isinstance(pattern, str) or not pattern.strip() or pattern != pattern.strip():
                raise ValueError(f"{SETTING}: pattern {pattern!r} must be a non-empty subject "
                                 "without surrounding spaces")
            if "*" in pattern[:-1]:
                raise ValueError(f"{SETTING}: pattern {pattern!r} may use '*' only as its last "
                                 "character (e.g. 'system:serviceaccount:my-ns:*')")
            if not isinstance(scopes, str) or not scopes.split():
                raise ValueError(f"{SETTING}: pattern {pattern!r} needs a non-empty string of "
                                 "space-separated scopes, e.g. 'jobs:read jobs:submit'")
            unknown = sorted(set(scopes.split()) - KNOWN_SCOPES)
            if unknown:
                raise ValueError(f"{SETTING}: pattern {pattern!r} names unknown scope(s) "
                                 f"{', '.join(unknown)}; known: {', '.join(sorted(KNOWN_SCOPES))}")
            granted = frozenset(scopes.split())
            if pattern.endswith("*"):
                prefixes.append((pattern[:-1], granted))
            else:
                exact[pattern] = granted
        prefixes.sort(key=lambda item: len(item[0]), reverse=True)
        return cls(exact, tuple(prefixes))

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes)

    def scopes_for(self, subject: str) -> frozenset[str]:
        """Scopes granted to ``subject`` (a token without a scope claim); empty if none match."""
        if subject in self.exact:
            return self.exact[subject]
        for prefix, granted in self.prefixes:
            if subject.startswith(prefix):
                return granted
        return frozenset()
