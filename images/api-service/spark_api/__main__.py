"""`python -m spark_api`: serve on SPARK_API_HOST:SPARK_API_PORT with uvicorn (no reload).

uvicorn runs on uvloop with the httptools parser when they are installed (the image pins both).
SPARK_API_WORKERS > 1: that many worker processes share the port (uvicorn's supervisor, each
worker builds its app from the same environment), and metrics go to files in a private folder
(prometheus_client's multiprocess mode) that THIS process serves on the metrics port, summed
over the workers; the workers serve none themselves.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile

import uvicorn
from pydantic import ValidationError

from .main import create_app
from .settings import Settings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        # Never echo the offending values: one of them may be the owner secret.
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"spark-api: invalid configuration: {where}: {err['msg']}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings)
    except RuntimeError as exc:
        print(f"spark-api: cannot start: {exc}", file=sys.stderr)
        return 2
    server = {"host": settings.host, "port": settings.port, "reload": False,
              "proxy_headers": False, "access_log": True, "log_level": "info"}
    if settings.workers == 1:
        uvicorn.run(app, **server)  # type: ignore[arg-type]
        return 0
    return _serve_workers(settings, server)


def _serve_workers(settings: Settings, server: dict[str, object]) -> int:
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    folder = tempfile.mkdtemp(prefix="spark-api-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # read by the workers as they import
    os.environ["SPARK_API_METRICS_PORT"] = "0"       # the workers serve no metrics themselves
    metrics = None
    try:
        if settings.metrics_port:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=folder)
            where = (settings.metrics_host or settings.host, settings.metrics_port)
            try:
                metrics, _ = start_http_server(where[1], addr=where[0], registry=registry)
            except OSError as exc:  # as in main.py: metrics are not worth refusing to serve
                logging.getLogger("spark_api").error(
                    "cannot serve metrics on %s:%d (%s): set SPARK_API_METRICS_HOST/"
                    "SPARK_API_METRICS_PORT, or 0 to turn them off", *where, exc)
        uvicorn.run("spark_api.main:create_app", factory=True, workers=settings.workers,
                    **server)  # type: ignore[arg-type]
    finally:
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
