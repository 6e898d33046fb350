"""Errors of the client: the API's error body ({"error": {"code", "message", "field"?}}) as an
exception, plus the failures that never reached an answer."""
from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every error the client raises."""


class ApiUnreachable(ClientError):
    """No HTTP answer (connection refused, DNS, timeout), after the configured retries."""


class WaitTimeout(ClientError):
    """wait() gave up before the job reached a terminal state."""

    def __init__(self, job_id: str, state: str, timeout: float) -> None:
        super().__init__(f"job {job_id} still {state} after {timeout:g}s")
        self.job_id, self.state, self.timeout = job_id, state, timeout


class ApiError(ClientError):
    """An error answer of the API: status, its stable ``code``, ``message`` and ``field``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 details: list[dict[str, Any]] | None = None,
                 retry_after: float | None = None) -> None:
        where = f" (field {field})" if field else ""
        super().__init__(f"{status} {code}: {message}{where}")
        self.status, self.code, self.message, self.field = status, code, message, field
        self.details = details or []
        self.retry_after = retry_after

    @staticmethod
    def from_response(status: int, body: Any, retry_after: float | None,
                      fallback: str = "") -> ApiError:
        """The exception for this answer: the subclass its status maps to (error_class)."""
        kind = error_class(status)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):  # not the API's shape (a proxy, the token endpoint...)
            return kind(status, "http_error", fallback or f"HTTP {status}", None, None,
                        retry_after)
        return kind(status, str(error.get("code", "http_error")), str(error.get("message", "")),
                    error.get("field"), error.get("details"), retry_after)


class AuthError(ApiError):
    """401 (no, bad or expired token; or the token endpoint refused the client) or 403 (scope)."""


class NotFound(ApiError):
    """404: no such job, or someone else's."""


class InvalidRequest(ApiError):
    """422 (bad job spec, args, resources) or 413 (body too large)."""


class Conflict(ApiError):
    """409: e.g. killing a job that already ended."""


class Unavailable(ApiError):
    """429 or 503 still answered after the bounded Retry-After retries."""


def error_class(status: int) -> type[ApiError]:
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFound
    if status in (413, 422):
        return InvalidRequest
    if status == 409:
        return Conflict
    if status in (429, 503):
        return Unavailable
    return ApiError
