"""The job catalog: named jobs with closed JSON Schemas for their parameters.

Source of truth: images/spark-job/jobs/catalog.json (owned by the spark image); the API reads
the copy at SPARK_API_CATALOG_PATH. Arguments are validated here so a bad spec is a 422 naming
the field, never a driver that fails later on the cluster.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from .errors import ApiError


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    script: str
    parameters: dict[str, Any]
    validator: Draft202012Validator = field(repr=False, compare=False)


def _non_finite(value: Any, path: str) -> str | None:
    """The path of the first NaN/Infinity inside ``value``, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}")
        if found:
            return found
    return None


def cap_strings(schema: Any, max_chars: int) -> Any:
    """A copy of ``schema`` whose string values allow at most ``max_chars`` characters.

    The body limit (SPARK_API_MAX_BODY_BYTES) bounds every string anyway; stating it in each
    parameter's schema makes an over-long string a 422 naming the parameter, and keeps the
    published schema (/openapi.json) true: whatever it allows fits in a body.
    """
    if isinstance(schema, list):
        return [cap_strings(item, max_chars) for item in schema]
    if not isinstance(schema, dict):
        return schema
    capped = {key: cap_strings(value, max_chars) if key != "default" else value
              for key, value in schema.items()}
    if capped.get("type") == "string":
        capped["maxLength"] = min(int(capped.get("maxLength", max_chars)), max_chars)
    return capped


class Catalog:
    def __init__(self, entries: dict[str, CatalogEntry]) -> None:
        self.entries = entries

    @classmethod
    def load(cls, path: Path, max_string_chars: int | None = None) -> "Catalog":
        """Load and check the file; a broken catalog stops the service at start, loudly.

        ``max_string_chars``: cap every string parameter (see ``cap_strings``)."""
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"cannot read the job catalog {path}: {exc}") from exc
        jobs = raw.get("jobs") if isinstance(raw, dict) else None
        if not isinstance(jobs, dict) or not jobs:
            raise RuntimeError(f"{path}: expected {{\"jobs\": {{name: entry}}}} with entries")
        entries = {}
        for name, entry in jobs.items():
            schema = entry.get("parameters", {"type": "object", "additionalProperties": False})
            if max_string_chars is not None:
                schema = cap_strings(schema, max_string_chars)
            Draft202012Validator.check_schema(schema)
            entries[name] = CatalogEntry(name=name, description=entry.get("description", ""),
                                         script=entry["script"], parameters=schema,
                                         validator=Draft202012Validator(schema))
        return cls(entries)

    def get(self, name: str) -> CatalogEntry:
        entry = self.entries.get(name)
        if entry is None:
            raise ApiError(422, "unknown_job",
                           f"job {name!r} is not in the catalog; known jobs: "
                           f"{', '.join(sorted(self.entries))} (GET /v1/catalog)", field="job")
        return entry

    def validate_args(self, entry: CatalogEntry, args: dict[str, Any]) -> None:
        bad = _non_finite(args, "args")
        if bad:
            # Python's JSON parser accepts NaN/Infinity, JSON Schema bounds do not catch NaN.
            raise ApiError(422, "invalid_args", f"{bad}: NaN and Infinity are not allowed",
                           field=bad)
        errors = sorted(entry.validator.iter_errors(args), key=lambda e: list(e.path))
        if not errors:
            return
        err = errors[0]
        path = ".".join(str(p) for p in err.path)
        if err.validator == "additionalProperties":
            allowed = ", ".join(sorted(entry.parameters.get("properties", {}))) or "none"
            extra = sorted(set(err.instance) - set(entry.parameters.get("properties", {})))
            path = ".".join(filter(None, [path, extra[0] if extra else ""]))
            message = f"unknown parameter for job {entry.name!r}; allowed: {allowed}"
        elif err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else ""
            path = ".".join(filter(None, [path, missing]))
            message = f"missing required parameter: {err.message}"
        else:
            message = err.message
        field_name = "args" + (f".{path}" if path else "")
        raise ApiError(422, "invalid_args", f"{field_name}: {message}", field=field_name)
