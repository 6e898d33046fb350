"""App factory: wire settings, auth, the Spark client, the catalog and the routers together."""
from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack, asynccontextmanager
from typing import AsyncIterator

import httpx
from fastapi import FastAPI

from . import errors, openapi
from .auth import OidcVerifier
from .catalog import Catalog
from .issuer_access import IssuerAccess
from .limits import BodyLimitMiddleware
from . import metrics as metrics_server
from .metrics import Metrics, MetricsMiddleware
from .owners import OwnerIndex
from .ownership import Ownership
from .routers import catalog, health, jobs
from .settings import AuthMode, Settings
from .spark import SparkMaster
from .watchdog import Watchdog, WatchedTransport

log = logging.getLogger("spark_api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # type: ignore[call-arg]
    # Every string parameter fits in a body: 12 bytes per character at worst (a JSON-escaped
    # surrogate pair), with room for the rest of the spec.
    job_catalog = Catalog.load(settings.catalog_path,
                               max_string_chars=max(1, (settings.max_body_bytes - 4096) // 12))
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            transport = WatchedTransport(httpx.AsyncHTTPTransport())
            client = await stack.enter_async_context(
                httpx.AsyncClient(follow_redirects=False, transport=transport))
            app.state.master = SparkMaster(settings, client)
            app.state.watchdog = Watchdog(transport, client, settings.master_ui_base + "/json/",
                                          stall_seconds=settings.liveness_stall_seconds)
            # Owner lookups (worker log reads for listing) have a client and pool of their own,
            # so they can never starve the master's /json/ and REST calls (owners.py).
            lookups = settings.owner_lookup_concurrency
            owner_client = await stack.enter_async_context(httpx.AsyncClient(
                follow_redirects=False,
                limits=httpx.Limits(max_connections=lookups, max_keepalive_connections=lookups)))
            app.state.owners = OwnerIndex(owner_client, concurrency=lookups,
                                          counter=metrics.owner_lookups,
                                          facts_file=settings.owner_facts_file)
            if settings.auth_mode is AuthMode.OIDC:
                access = IssuerAccess(settings.oidc_issuer or "", settings.oidc_ca_file,
                                      settings.oidc_discovery_token_file)
                # A client of its own: the issuer's CA, and the discovery token never goes
                # through the client the Spark master calls use.
                issuer_client = await stack.enter_async_context(access.client())
                app.state.verifier = OidcVerifier(
                    settings.oidc_issuer or "", settings.oidc_audience or "", issuer_client,
                    refresh_interval=settings.oidc_refresh_interval, access=access,
                    max_backoff=settings.oidc_refresh_max_backoff,
                    max_lifetime=float(settings.oidc_max_token_lifetime))
                log.info("oidc: issuer %s, CA %s, discovery token %s, subject scopes for %d "
                         "pattern(s)", settings.oidc_issuer,
                         settings.oidc_ca_file or "system store",
                         settings.oidc_discovery_token_file or "none",
                         len(settings.oidc_subject_scopes))
            elif settings.auth_mode is AuthMode.DISABLED:
                log.warning("!!! AUTHENTICATION IS DISABLED (SPARK_API_AUTH_MODE=disabled): "
                            "anyone who can reach %s:%s can submit and kill jobs. "
                            "Never run this way outside local development. !!!",
                            settings.host, settings.port)
            if settings.metrics_port:
                where = (settings.metrics_host or settings.host, settings.metrics_port)
                try:
                    server, _ = metrics_server.serve(metrics, *where)
                except OSError as exc:  # metrics are not worth refusing to serve jobs
                    log.error("cannot serve metrics on %s:%d (%s): set SPARK_API_METRICS_HOST/"
                              "SPARK_API_METRICS_PORT, or 0 to turn them off", *where, exc)
                else:
                    stack.callback(server.server_close)
                    stack.callback(server.shutdown)
            log.info("spark-api ready: auth=%s master=%s catalog=%s (%d jobs)",
                     settings.auth_mode.value, settings.master_url, settings.catalog_path,
                     len(job_catalog.entries))
            yield

    app = FastAPI(title="spark-stack job API", version="0.1.0", lifespan=lifespan,
                  description="Submit catalog jobs to a Spark standalone cluster, OAuth-protected.")
    app.state.settings = settings
    app.state.catalog = job_catalog
    app.state.subject_scopes = settings.subject_scopes
    app.state.ownership = Ownership(settings.secret_bytes)
    app.state.metrics = metrics
    app.state.admission_lock = asyncio.Lock()  # submissions of this replica, one at a time
    errors.install(app)
    openapi.install(app, settings, job_catalog)
    app.include_router(jobs.router)
    app.include_router(catalog.router)
    app.include_router(health.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
