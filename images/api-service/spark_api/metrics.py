"""Prometheus metrics in a registry of the app's own (several apps may live in one process).

Every label value comes from a fixed set, so no request can add a series: the method is one of
``METHODS`` or ``OTHER``, the route is a route template of the app or ``OTHER``, the status is
one the app answers. The metrics are served on a port of their own (``serve``), not by the app.
"""
from __future__ import annotations

import logging
import threading
import time
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("spark_api.metrics")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "OTHER"


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("spark_api_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("spark_api_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry)
        self.submissions = Counter("spark_api_submissions_total", "job submissions by outcome",
                                   ["outcome"], registry=self.registry)
        self.owner_lookups = Counter("spark_api_owner_lookups_total",
                                     "worker log reads to learn a driver's owner, by outcome "
                                     "(found, not_api, not_yet, failed)",
                                     ["outcome"], registry=self.registry)
        self.master_status_reads = Counter(
            "spark_api_master_status_reads_total",
            "driver status requests sent to the master (readers sharing one count once)",
            registry=self.registry)


class MetricsMiddleware:
    """Counts and times every request by its route template (never the raw path: ids vary)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or OTHER
            method = method_label(scope["method"])
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)


def serve(metrics: Metrics, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """prometheus_client's own HTTP server on ``host:port`` (a daemon thread); stop with
    ``server.shutdown(); server.server_close()``."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server, thread
