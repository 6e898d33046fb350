"""One JSON error body everywhere: {"error": {"code", "message", "field"?}}.

Clients get a code they can branch on, a message that says what to fix and, for bad input, the
field (dotted path) at fault. A client's mistake is never answered with a 500.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("spark_api")
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class ApiError(Exception):
    """An error with an HTTP status, a stable code and a message meant for the caller."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def _loc_to_field(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_handler(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = []
    for err in exc.errors():
        field = _loc_to_field(err.get("loc", ()))
        kind = err.get("type", "")
        if kind == "extra_forbidden":
            message = f"unknown field '{field}': remove it (see /openapi.json for the schema)"
        elif kind == "json_invalid":
            message = "the body is not valid JSON"
            field = "body"
        else:
            message = f"{field}: {err.get('msg', 'invalid')}"
        details.append({"field": field, "message": message})
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return JSONResponse(status_code=422,
                        content=error_body("invalid_request", first["message"], first["field"],
                                           details=details))


def _api_error_handler(_: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(status_code=exc.status, headers=exc.headers,
                        content=error_body(exc.code, exc.message, exc.field))


def _allowed_methods(request: Request) -> str:
    """Every method the published contract lists for this path (Starlette names only the
    first matching route's methods, and /v1/jobs has two routes)."""
    methods: set[str] = set()
    for template, item in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\{[^}/]+\\}", "[^/]+", re.escape(template)), request.url.path):
            methods |= {m.upper() for m in item if m in _HTTP_METHODS}
    return ", ".join(sorted(methods))


def _http_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (e.g. JSON nested too deeply for the parser): the
        # client's body is at fault, so the documented 422 form, like any other bad body.
        return JSONResponse(status_code=422, content=error_body(
            "invalid_request", "the body could not be parsed as JSON (nested too deeply?)",
            "body", details=[{"field": "body", "message": "the body could not be parsed"}]))
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    return JSONResponse(status_code=exc.status_code, headers=headers or None,
                        content=error_body(codes.get(exc.status_code, "http_error"),
                                           str(exc.detail),
                                           "body" if exc.status_code == 413 else None))


def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(status_code=500,
                        content=error_body("internal_error", "unexpected server error"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_handler)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_handler)
