"""spark-stack: the job API from a shell (console script of spark_stack_client)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Any

from .client import Client, RetryPolicy
from .errors import (
    ApiError,
    ApiUnreachable,
    AuthError,
    ClientError,
    InvalidRequest,
    NotFound,
    WaitTimeout,
)
from .models import Job

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_UNAVAILABLE, EXIT_TIMEOUT = (
    0, 1, 2, 3, 4, 5, 6)

EPILOG = """\
configuration (flags win over the environment):
  SPARK_STACK_API             the API's base URL (--api)
  SPARK_STACK_TOKEN_URL       the OAuth token endpoint (--token-url)
  SPARK_STACK_CLIENT_ID       the OAuth client id (--client-id)
  SPARK_STACK_CLIENT_SECRET   its secret, or a file holding it: SPARK_STACK_CLIENT_SECRET_FILE
                              (--client-secret-file); never on the command line
  SPARK_STACK_TOKEN           a bearer token instead (e.g. `oc whoami -t`)

exit codes:
  0  ok (with --wait: the job FINISHED)
  1  the job ended FAILED, KILLED or ERROR
  2  usage or bad input (422, 413, 409)
  3  authentication or authorization (401, 403, token endpoint refused the client)
  4  not found (404)
  5  API unreachable, or 429/503 still answered after the retries
  6  --wait timed out
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spark-stack", description="Submit and follow Spark jobs "
                                "through the spark-stack job API.", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api", default=os.environ.get("SPARK_STACK_API"))
    p.add_argument("--token-url", default=os.environ.get("SPARK_STACK_TOKEN_URL"))
    p.add_argument("--client-id", default=os.environ.get("SPARK_STACK_CLIENT_ID"))
    p.add_argument("--client-secret-file",
                   default=os.environ.get("SPARK_STACK_CLIENT_SECRET_FILE"))
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--retries", type=int, default=4, help="tries on 429/503/no answer (4)")
    p.add_argument("--retry-max-wait", type=float, default=30.0,
                   help="seconds of Retry-After waiting in all per call (30)")
    sub = p.add_subparsers(dest="group", required=True)
    jobs = sub.add_parser("jobs", help="job commands").add_subparsers(dest="cmd", required=True)
    s = jobs.add_parser("submit", help="submit a catalog job")
    s.add_argument("job")
    s.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                   help="a job parameter (VALUE parsed as JSON when it is, else a string)")
    s.add_argument("--resources", metavar="JSON", help='e.g. \'{"driverMemory": "512m"}\'')
    s.add_argument("--wait", action="store_true", help="wait until the job ends")
    s.add_argument("--timeout", type=float, default=600.0, help="seconds for --wait (600)")
    jobs.add_parser("list", help="your jobs, newest first")
    jobs.add_parser("catalog", help="the jobs you can submit")
    for name in ("get", "kill"):
        jobs.add_parser(name, help=f"{name} one job").add_argument("id")
    lg = jobs.add_parser("logs", help="the driver's output")
    lg.add_argument("id")
    lg.add_argument("--follow", "-f", action="store_true", help="tail until the job ends")
    lg.add_argument("--stream", choices=("stdout", "stderr"), default="stdout")
    w = jobs.add_parser("wait", help="wait until a job ends")
    w.add_argument("id")
    w.add_argument("--timeout", type=float, default=600.0)
    return p


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _args(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise _Usage(f"--arg {pair!r}: write NAME=VALUE, e.g. --arg samples=1000")
        out[name] = _value(value)
    return out


class _Usage(Exception):
    pass


def _client(ns: argparse.Namespace) -> Client:
    if not ns.api:
        raise _Usage("no API URL: set SPARK_STACK_API or pass --api")
    retry = RetryPolicy(attempts=max(1, ns.retries), max_total=ns.retry_max_wait)
    token = os.environ.get("SPARK_STACK_TOKEN")
    if token:
        return Client(ns.api, token=token, retry=retry)
    secret = os.environ.get("SPARK_STACK_CLIENT_SECRET")
    if ns.client_secret_file:
        try:
            with open(ns.client_secret_file, encoding="utf-8") as fh:
                secret = fh.read().strip()
        except OSError as exc:
            raise _Usage(f"--client-secret-file: {exc.strerror}: {ns.client_secret_file}")
    missing = [n for n, v in (("SPARK_STACK_TOKEN_URL (--token-url)", ns.token_url),
                              ("SPARK_STACK_CLIENT_ID (--client-id)", ns.client_id),
                              ("SPARK_STACK_CLIENT_SECRET or SPARK_STACK_CLIENT_SECRET_FILE",
                               secret)) if not v]
    if missing:
        raise _Usage("no credentials: set SPARK_STACK_TOKEN, or " + ", ".join(missing))
    return Client(ns.api, token_url=ns.token_url, client_id=ns.client_id, client_secret=secret,
                  retry=retry)


def _table(jobs: list[Job]) -> str:
    rows = [("ID", "JOB", "STATE", "MESSAGE")] + [
        (j.id, j.job, j.state, (j.message or "").splitlines()[0] if j.message else "")
        for j in jobs]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3]
                      ).rstrip() for r in rows)


def _show(ns: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, indent=2) if ns.json else human)


def _progress(enabled: bool):
    def show(job: Job, elapsed: float) -> None:
        sys.stderr.write(f"\r{job.id}  {job.state:<9}  {elapsed:6.0f}s")
        sys.stderr.flush()
    return show if enabled else None


def _wait(ns: argparse.Namespace, api: Client, job_id: str) -> int:
    tty = sys.stderr.isatty()
    try:
        job = api.wait(job_id, timeout=ns.timeout, progress=_progress(tty))
    finally:
        if tty:
            sys.stderr.write("\n")
    _show(ns, asdict(job), _table([job]))
    return EXIT_OK if job.state == "FINISHED" else EXIT_JOB_FAILED


def _run(ns: argparse.Namespace) -> int:
    with _client(ns) as api:
        if ns.cmd == "submit":
            try:
                resources = json.loads(ns.resources) if ns.resources else None
            except ValueError:
                raise _Usage("--resources: not JSON, e.g. '{\"driverMemory\": \"512m\"}'")
            job = api.submit(ns.job, _args(ns.arg), resources)
            if ns.wait:
                return _wait(ns, api, job.id)
            _show(ns, asdict(job), _table([job]))
        elif ns.cmd == "wait":
            return _wait(ns, api, ns.id)
        elif ns.cmd == "list":
            jobs, offset, partial = [], 0, False
            while offset is not None:  # page by page, to see `partial`
                page = api.page(offset, 100)
                jobs += page.items
                partial, offset = partial or page.partial, page.nextOffset
            if partial:
                print("spark-stack: the list may be incomplete (the API could not tell the "
                      "owner of some jobs in time); ask again shortly", file=sys.stderr)
            _show(ns, [asdict(j) for j in jobs], _table(jobs))
        elif ns.cmd in ("get", "kill"):
            job = api.get(ns.id) if ns.cmd == "get" else api.kill(ns.id)
            _show(ns, asdict(job), _table([job]))
        elif ns.cmd == "catalog":
            entries = api.catalog()
            width = max((len(e.name) for e in entries), default=4)
            _show(ns, [asdict(e) for e in entries],
                  "\n".join(f"{e.name.ljust(width)}  {e.description}" for e in entries))
        elif ns.cmd == "logs":
            chunks = (api.follow_logs(ns.id, stream=ns.stream) if ns.follow
                      else iter([api.logs(ns.id, stream=ns.stream)]))
            for chunk in chunks:
                if ns.json:
                    print(json.dumps(asdict(chunk)), flush=True)
                else:
                    sys.stdout.write(chunk.text)
                    sys.stdout.flush()
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    try:
        return _run(ns)
    except _Usage as exc:
        print(f"spark-stack: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"spark-stack: {exc}", file=sys.stderr)
        if isinstance(exc, AuthError):
            return EXIT_AUTH
        if isinstance(exc, NotFound):
            return EXIT_NOT_FOUND
        if isinstance(exc, InvalidRequest) or exc.status == 409:
            return EXIT_USAGE
        return EXIT_UNAVAILABLE
    except WaitTimeout as exc:
        print(f"spark-stack: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    except (ApiUnreachable, ClientError) as exc:
        print(f"spark-stack: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
