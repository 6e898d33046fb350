"""Typed access to the app's long-lived objects (set up once in main.create_app).

Each is ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop
per dependency per request (measured with py-spy as ~10% of a status read: docs/performance.md).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .catalog import Catalog
from .metrics import Metrics
from .owners import OwnerIndex
from .ownership import Ownership
from .settings import Settings
from .spark import SparkMaster


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _master(request: Request) -> SparkMaster:
    return request.app.state.master


async def _catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def _ownership(request: Request) -> Ownership:
    return request.app.state.ownership


async def _owners(request: Request) -> OwnerIndex:
    return request.app.state.owners


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(_settings)]
MasterDep = Annotated[SparkMaster, Depends(_master)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
OwnershipDep = Annotated[Ownership, Depends(_ownership)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
OwnersDep = Annotated[OwnerIndex, Depends(_owners)]
