"""Liveness and readiness (the master is reachable and ALIVE). Metrics have their own port."""
from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import MasterDep
from ..errors import error_body
from ..models import Ready
from ..openapi import errors
from ..spark import SparkUnavailable

router = APIRouter(tags=["health"])
log = logging.getLogger("spark_api.health")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses=errors(503))
async def readyz(master: MasterDep) -> JSONResponse:
    try:
        cluster = await master.cluster()
    except SparkUnavailable as exc:
        log.warning("not ready: %s", exc)  # the detail (URL, error) stays in the log
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content=error_body("spark_unavailable",
                                               "the Spark master is not reachable"))
    if cluster.get("status") != "ALIVE":
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content=error_body("spark_unavailable",
                                               f"Spark master status is {cluster.get('status')}"))
    return JSONResponse({"status": "ready", "aliveWorkers": cluster.get("aliveworkers")})
