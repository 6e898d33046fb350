"""The job API client: authlib's httpx OAuth2 client (client credentials, tokens fetched, cached
and renewed before ``exp`` by authlib) or a given bearer token (or none: anonymous); typed
results; API errors as exceptions; Retry-After honored on 429/503 with a bounded retry."""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

# authlib.deprecate turns its warnings "always" on when imported: import it, then filter.
import authlib.deprecate  # noqa: F401
import httpx

with warnings.catch_warnings():
    # authlib >= 1.7 prefers the `httpx2` package and warns when it falls back to httpx, which
    # this client uses on purpose (one transport for both auth modes): not the user's concern.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from .errors import ApiError, ApiUnreachable, AuthError, NotFound, Unavailable, WaitTimeout
from .models import TERMINAL, CatalogEntry, Job, JobPage, LogChunk

RETRY_STATUSES = (429, 503)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retry on 429/503 (waiting Retry-After, else ``default_wait``) and on no answer."""

    attempts: int = 4          # tries in all, the first included
    max_total: float = 30.0    # seconds of waiting in all, across the retries of one call
    default_wait: float = 1.0  # when the answer carries no Retry-After


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # the HTTP-date form: not sent by this API
        return None


def _refused(exc: OAuthError) -> AuthError:
    """The token endpoint's refusal (bad client or secret, scope not allowed) as an AuthError."""
    return AuthError(401, exc.error or "token_refused",
                     f"the token endpoint refused the client: {exc.description or exc}")


def client_credentials_token(token_url: str, client_id: str, client_secret: str,
                             scope: str | None = None, *, timeout: float = 30.0,
                             verify: bool | str = True, trust_env: bool = True) -> str:
    """One access token by the client-credentials grant, through authlib (for a caller that needs
    the token itself, e.g. to hand to another program; ``Client`` fetches and renews its own).
    AuthError when the endpoint refuses, ApiUnreachable when it does not answer."""
    with OAuth2Client(client_id, client_secret, scope=scope, token_endpoint=token_url,
                      timeout=timeout, verify=verify, trust_env=trust_env) as oauth:
        try:
            return oauth.fetch_token(token_url, grant_type="client_credentials")["access_token"]
        except OAuthError as exc:
            raise _refused(exc) from None
        except httpx.TransportError as exc:
            raise ApiUnreachable(f"POST {token_url}: {exc}") from None


class Client:
    """``Client(api_url, token_url=..., client_id=..., client_secret=...)`` (client credentials;
    ``scope=`` asks for fewer scopes than the client has), ``Client(api_url, token=...)`` (a
    bearer token, e.g. an OpenShift user token) or ``Client(api_url, anonymous=True)`` (no
    credentials at all: the API answers 401; for probing its authentication).

    ``keepalive=False`` opens a fresh connection per call (a caller behind a proxy that drops
    idle connections); ``trust_env=False`` ignores proxy variables (local endpoints)."""

    def __init__(self, api_url: str, *, token_url: str | None = None,
                 client_id: str | None = None, client_secret: str | None = None,
                 scope: str | None = None, token: str | None = None, anonymous: bool = False,
                 retry: RetryPolicy = RetryPolicy(), timeout: float = 30.0,
                 leeway: int = 30, verify: bool | str = True, keepalive: bool = True,
                 trust_env: bool = True) -> None:
        self.api_url = api_url.rstrip("/")
        self.retry = retry
        self.token_url = token_url
        self._token = token
        options: dict[str, Any] = {"timeout": timeout, "verify": verify, "trust_env": trust_env}
        if not keepalive:
            options["limits"] = httpx.Limits(max_keepalive_connections=0)
        if token:
            self.http: httpx.Client = httpx.Client(
                headers={"Authorization": f"Bearer {token}"}, **options)
        elif token_url and client_id and client_secret:
            self.http = OAuth2Client(client_id, client_secret, scope=scope,
                                     token_endpoint=token_url, grant_type="client_credentials",
                                     leeway=leeway, **options)
        elif anonymous:
            self.http = httpx.Client(**options)
        else:
            raise ValueError("give either token=, or token_url=, client_id= and client_secret= "
                             "(or anonymous=True for no credentials)")

    # -- plumbing -------------------------------------------------------------------------------
    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _ensure_token(self) -> None:
        if isinstance(self.http, OAuth2Client) and not self.http.token:
            self.http.fetch_token(self.token_url, grant_type="client_credentials")

    def access_token(self) -> str | None:
        """The bearer token the calls carry now (fetched, or renewed near ``exp``, first), None
        when anonymous: for a caller that must build a request by hand, e.g. a test sending a
        tampered token or malformed headers."""
        if not isinstance(self.http, OAuth2Client):
            return self._token
        try:
            self._ensure_token()
            self.http.ensure_active_token(self.http.token)
        except OAuthError as exc:
            raise _refused(exc) from None
        return str(self.http.token["access_token"])

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw call (``path`` under the API's URL, httpx keyword arguments) with this client's
        credentials and retry policy; the answer whatever its status, never raised: for callers
        that check the status itself (401/403 expectations) or headers the models do not carry.
        Raises only AuthError (token endpoint refused) and ApiUnreachable (no answer)."""
        waited, attempt = 0.0, 0
        while True:
            attempt += 1
            try:
                self._ensure_token()
                response = self.http.request(method, self.api_url + path, **kwargs)
            except OAuthError as exc:  # the token endpoint refused (bad client or secret)
                raise _refused(exc) from None
            except httpx.TransportError as exc:
                response = None
                failure: Exception = exc
            if response is not None and response.status_code not in RETRY_STATUSES:
                return response
            wait = (_retry_after(response) if response is not None else None)
            wait = self.retry.default_wait if wait is None else wait
            if attempt >= self.retry.attempts or waited + wait > self.retry.max_total:
                if response is None:
                    raise ApiUnreachable(f"{method} {self.api_url}{path}: {failure}") from None
                return response
            time.sleep(wait)
            waited += wait

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.is_success:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = None
        raise ApiError.from_response(response.status_code, body, _retry_after(response),
                                     response.text[:200])

    # -- the API --------------------------------------------------------------------------------
    def catalog(self) -> list[CatalogEntry]:
        return [CatalogEntry.from_json(e) for e in self._call("GET", "/v1/catalog")]

    def submit(self, job: str, args: dict[str, Any] | None = None,
               resources: dict[str, Any] | None = None) -> Job:
        body: dict[str, Any] = {"job": job, "args": dict(args or {})}
        if resources:
            body["resources"] = dict(resources)
        return Job.from_json(self._call("POST", "/v1/jobs", json=body))

    def get(self, job_id: str) -> Job:
        return Job.from_json(self._call("GET", f"/v1/jobs/{job_id}"))

    def page(self, offset: int = 0, limit: int = 20) -> JobPage:
        return JobPage.from_json(self._call("GET", "/v1/jobs",
                                            params={"offset": offset, "limit": limit}))

    def list(self, limit: int = 20) -> Iterator[Job]:
        """Every job of the caller, newest first, page after page (see ``page`` for ``partial``)."""
        offset: int | None = 0
        while offset is not None:
            page = self.page(offset, limit)
            yield from page.items
            offset = page.nextOffset

    def kill(self, job_id: str) -> Job:
        return Job.from_json(self._call("DELETE", f"/v1/jobs/{job_id}"))

    def logs(self, job_id: str, offset: int = 0, stream: str = "stdout",
             length: int = 65536) -> LogChunk:
        return LogChunk.from_json(self._call(
            "GET", f"/v1/jobs/{job_id}/logs",
            params={"offset": offset, "stream": stream, "length": length}))

    def follow_logs(self, job_id: str, offset: int = 0, stream: str = "stdout",
                    interval: float = 1.0) -> Iterator[LogChunk]:
        """Yield new log text until the job is terminal and its log is read to the end."""
        while True:
            ended = self.get(job_id).terminal  # before reading: nothing written after is missed
            while True:
                chunk = self.logs(job_id, offset, stream)
                if chunk.length:
                    yield chunk
                offset = chunk.nextOffset
                if chunk.nextOffset >= chunk.total:
                    break
            if ended:
                return
            time.sleep(interval)

    def wait(self, job_id: str, timeout: float = 600.0, interval: float = 1.0,
             progress: Callable[[Job, float], None] | None = None, *,
             until: Collection[str] = TERMINAL, ride_out_outages: bool = False) -> Job:
        """The job once terminal (FINISHED, FAILED, KILLED, ERROR), or once in a state of
        ``until`` (e.g. ``{"RUNNING"}``; a job that ended first is returned as it ended);
        WaitTimeout after ``timeout`` seconds. ``progress(job, elapsed)`` is called after each
        poll. ``ride_out_outages``: an API still unavailable (429/503) or unreachable after the
        retries, or a 404 (a restarted master that has not recovered its drivers yet does not
        know the job for a while), does not end the wait, only the timeout does; the
        WaitTimeout then names the last answer."""
        start = time.monotonic()
        state = "unknown"
        while True:
            try:
                job: Job | None = self.get(job_id)
            except (Unavailable, ApiUnreachable, NotFound) as exc:
                if not ride_out_outages:
                    raise
                job, state = None, f"unknown ({exc})"
            elapsed = time.monotonic() - start
            if job is not None:
                state = job.state
                if progress:
                    progress(job, elapsed)
                if job.terminal or job.state in until:
                    return job
            if elapsed + interval > timeout:
                raise WaitTimeout(job_id, state, timeout)
            time.sleep(interval)
