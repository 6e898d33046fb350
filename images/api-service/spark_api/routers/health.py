"""Health: /healthz (the process answers), /livez (it can still work: watchdog.py; for the
kubelet's livenessProbe, unaffected by the master being down), /readyz (the master is reachable
and ALIVE: readinessProbe). Metrics have their own port."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Request
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


@router.get("/livez", responses=errors(503))
async def livez(request: Request) -> JSONResponse:
    state = request.app.state.watchdog.check()
    if not state.alive:
        return JSONResponse(status_code=503, content=error_body("wedged", state.reason))
    return JSONResponse({"status": "alive"})


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
