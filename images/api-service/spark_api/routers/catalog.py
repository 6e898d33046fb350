"""GET /v1/catalog: what can be submitted and with which parameters."""
from __future__ import annotations

from fastapi import APIRouter

from ..auth import Reader
from ..deps import CatalogDep
from ..models import CatalogItem
from ..openapi import errors

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


@router.get("", response_model=list[CatalogItem], responses=errors(401, 403, 503))
async def list_catalog(_: Reader, catalog: CatalogDep) -> list[CatalogItem]:
    return [CatalogItem(name=e.name, description=e.description, parameters=e.parameters)
            for e in sorted(catalog.entries.values(), key=lambda e: e.name)]
