"""Liveness, readiness (the master is reachable and ALIVE) and Prometheus metrics."""
from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import MasterDep, MetricsDep
from ..errors import error_body
from ..spark import SparkUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(master: MasterDep) -> JSONResponse:
    try:
        cluster = await master.cluster()
    except SparkUnavailable as exc:
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content=error_body("spark_unavailable",
                                               f"Spark master not reachable: {exc}"))
    if cluster.get("status") != "ALIVE":
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content=error_body("spark_unavailable",
                                               f"Spark master status is {cluster.get('status')}"))
    return JSONResponse({"status": "ready", "master": cluster.get("url"),
                         "aliveWorkers": cluster.get("aliveworkers")})


@router.get("/metrics", include_in_schema=False)
async def metrics(m: MetricsDep) -> Response:
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
