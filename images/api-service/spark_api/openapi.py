"""The published contract (/openapi.json) made to say exactly what the API does.

FastAPI's generated schema is patched in three places, once, at the first request for it:
- every operation lists each status it can answer, with the one error body form
  (``errors.error_body``); FastAPI's own 422 form (HTTPValidationError) is replaced by it;
- ``JobSubmission`` is a ``oneOf`` with one variant per catalog entry: ``job`` is an enum of the
  catalog's names and ``args`` that entry's closed parameter schema, and ``resources`` carries
  the service's caps (SPARK_API_MAX_*), so a request the schema allows is one the API accepts and
  one it refuses is one the schema refuses;
- in ``oidc`` mode the bearer security scheme is declared on the /v1 operations.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .catalog import Catalog
from .models import SUPERVISE_DOC, ErrorBody
from .settings import MIN_MEMORY_MB, AuthMode, Settings, memory_mb

_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                                "schema": {"type": "integer", "minimum": 1}}}
_DESCRIPTIONS: dict[int, tuple[str, dict[str, Any]]] = {
    401: ("no, a malformed or an invalid bearer token",
          {"WWW-Authenticate": {"description": "the Bearer challenge (RFC 6750)",
                                "schema": {"type": "string"}}}),
    403: ("the token lacks the scope this operation needs",
          {"WWW-Authenticate": {"description": "error=insufficient_scope and the scope",
                                "schema": {"type": "string"}}}),
    404: ("no such job, or not the caller's (the two look the same)", {}),
    409: ("the job already ended", {}),
    410: ("the driver's logs were on a worker that is gone (lost or decommissioned)", {}),
    413: ("the request body is over SPARK_API_MAX_BODY_BYTES", {}),
    422: ("invalid request: `error.field` names the field, the message says the fix", {}),
    429: ("the cluster cannot run this job now; retry after Retry-After", _RETRY_AFTER),
    503: ("a dependency (the OIDC issuer or the Spark master) is unavailable; retry after "
          "Retry-After", _RETRY_AFTER),
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with its description, headers and error body."""
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status][0],
                     **({"headers": _DESCRIPTIONS[status][1]} if _DESCRIPTIONS[status][1] else {})}
            for status in statuses}


def int_range_pattern(low: int, high: int) -> str:
    """A regex alternation matching the decimal integers low..high (no leading zeros)."""
    parts: list[str] = []

    def add(lo: int, hi: int) -> None:
        if lo > hi:
            return
        lo_s, hi_s = str(lo), str(hi)
        if len(lo_s) < len(hi_s):  # split at the power of ten
            boundary = 10 ** len(lo_s)
            add(lo, boundary - 1)
            add(boundary, hi)
            return
        if lo == hi:
            parts.append(lo_s)
            return
        # same length: common prefix, then ranges on the first differing digit
        i = 0
        while lo_s[i] == hi_s[i]:
            i += 1
        prefix, rest = lo_s[:i], len(lo_s) - i - 1
        if lo_s[i + 1:] == "0" * rest and hi_s[i + 1:] == "9" * rest:
            digits = f"[{lo_s[i]}-{hi_s[i]}]" if lo_s[i] != hi_s[i] else lo_s[i]
            parts.append(prefix + digits + "[0-9]" * rest)
            return
        step = 10 ** rest
        head = int(lo_s[:i + 1]) * step
        add(lo, head + step - 1)
        add(head + step, int(hi_s[:i + 1]) * step - 1)
        add(int(hi_s[:i + 1]) * step, hi)

    add(low, high)
    return "|".join(parts)


def memory_pattern(cap: str) -> str:
    """Memory sizes Spark runs and the cap allows: ``512m``..cap in m, and whole g under it."""
    cap_mb = memory_mb(cap)
    alternatives = [f"(?:{int_range_pattern(MIN_MEMORY_MB, cap_mb)})[mM]"]
    if cap_mb >= 1024:
        alternatives.append(f"(?:{int_range_pattern(1, cap_mb // 1024)})[gG]")
    return "^(?:" + "|".join(alternatives) + ")$"


def resources_schema(settings: Settings) -> dict[str, Any]:
    """Resources with the service's caps; executorCores <= maxCores said with if/then."""
    schema: dict[str, Any] = {
        "type": "object", "additionalProperties": False, "title": "Resources",
        "description": "What one job may use; capped by the service settings (SPARK_API_MAX_*).",
        "properties": {
            "driverMemory": {"type": "string", "default": "512m",
                             "pattern": memory_pattern(settings.max_driver_memory),
                             "description": "driver heap, 512m up to the cap"},
            "executorMemory": {"type": "string", "default": "512m",
                               "pattern": memory_pattern(settings.max_executor_memory),
                               "description": "heap per executor, 512m up to the cap"},
            "executorCores": {"type": "integer", "default": 1, "minimum": 1,
                              "maximum": settings.max_executor_cores,
                              "description": "cores per executor (at most maxCores)"},
            "maxCores": {"type": "integer", "default": 1, "minimum": 1,
                         "maximum": settings.max_cores,
                         "description": "cores the job may hold in total (spark.cores.max)"},
        },
    }
    rules = [{"if": {"properties": {"executorCores": {"const": n}}, "required": ["executorCores"]},
              "then": {"properties": {"maxCores": {"minimum": n}}, "required": ["maxCores"]}}
             for n in range(2, settings.max_executor_cores + 1)]
    if rules:
        schema["allOf"] = rules
    return schema


def submission_schema(catalog: Catalog, allow_supervise: bool = False) -> dict[str, Any]:
    # Only what the service accepts: `supervise: true` too when SPARK_API_ALLOW_SUPERVISE is on.
    supervise = {"type": "boolean", "default": False, "description": SUPERVISE_DOC,
                 **({} if allow_supervise else {"enum": [False]})}
    variants = []
    for name in sorted(catalog.entries):
        entry = catalog.entries[name]
        variants.append({
            "type": "object", "title": name, "additionalProperties": False,
            "required": ["job"], "description": entry.description,
            "properties": {
                "job": {"type": "string", "enum": [name]},
                "args": {**entry.parameters,
                         "description": f"parameters of {name} (GET /v1/catalog)"},
                "resources": {"$ref": "#/components/schemas/Resources"},
                "supervise": supervise,
            },
        })
    return {"title": "JobSubmission", "oneOf": variants,
            "discriminator": {"propertyName": "job"}}


def _operations(schema: dict[str, Any]):
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def install(app: FastAPI, settings: Settings, catalog: Catalog) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["JobSubmission"] = submission_schema(catalog, settings.allow_supervise)
        schemas["Resources"] = resources_schema(settings)
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        error_ref = {"$ref": "#/components/schemas/ErrorBody"}
        for path, _, operation in _operations(schema):
            unprocessable = operation["responses"].get("422")
            if unprocessable is not None:
                unprocessable["content"] = {"application/json": {"schema": error_ref}}
                unprocessable["description"] = _DESCRIPTIONS[422][0]
            if settings.auth_mode is AuthMode.OIDC and path.startswith("/v1/"):
                operation["security"] = [{"bearer": []}]
        if settings.auth_mode is AuthMode.OIDC:
            components["securitySchemes"] = {"bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "an access token from the configured OIDC issuer"}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
