"""Request and response models. Every request model is closed: unknown fields are a 422."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from .states import JobState

MEMORY_PATTERN = r"^[1-9][0-9]*[mMgG]$"
SUPERVISE_DOC = ("relaunch the driver if its worker is lost (Spark's spark.driver.supervise; the "
                 "job then continues under a new job id) and restart it when it exits non-zero; "
                 "refused (422) unless the service allows it (SPARK_API_ALLOW_SUPERVISE)")


class Resources(BaseModel):
    """What one job may use; capped by the service settings (SPARK_API_MAX_*)."""

    model_config = ConfigDict(extra="forbid")

    driverMemory: str = Field(default="512m", pattern=MEMORY_PATTERN,
                              description="driver heap, e.g. 512m (Spark needs >= 512m)")
    executorMemory: str = Field(default="512m", pattern=MEMORY_PATTERN,
                                description="heap per executor, e.g. 512m")
    executorCores: int = Field(default=1, ge=1, le=64, description="cores per executor")
    maxCores: int = Field(default=1, ge=1, le=1024,
                          description="cores the job may hold in total (spark.cores.max)")


class JobSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job: str = Field(min_length=1, max_length=63, description="a catalog name (GET /v1/catalog)")
    args: dict[str, Any] = Field(default_factory=dict,
                                 description="parameters, checked against the entry's schema")
    resources: Resources = Field(default_factory=Resources)
    supervise: StrictBool = Field(default=False, description=SUPERVISE_DOC)


class Links(BaseModel):
    self: str
    logs: str


class Job(BaseModel):
    id: str
    job: str
    state: JobState
    sparkState: str | None = Field(default=None, description="the driver's own state")
    driverId: str
    message: str | None = None
    links: Links


class JobPage(BaseModel):
    items: list[Job]
    nextOffset: int | None = Field(default=None, description="pass as ?offset= for the next page")
    partial: bool = Field(default=False, description=(
        "true when the owner of some drivers could not be found out in time (e.g. right after "
        "an API restart): jobs may be missing from this page; ask again shortly"))


class LogChunk(BaseModel):
    id: str
    stream: str
    offset: int
    length: int
    total: int
    nextOffset: int
    text: str


class CatalogItem(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]


class ErrorDetail(BaseModel):
    field: str
    message: str


class Error(BaseModel):
    code: str = Field(description="stable, for clients to branch on")
    message: str = Field(description="what is wrong and how to fix it")
    field: str | None = Field(default=None, description="the dotted path of the field at fault")
    details: list[ErrorDetail] | None = Field(default=None,
                                              description="every invalid field (422 only)")


class ErrorBody(BaseModel):
    """Every error answer: {"error": {"code", "message", "field"?, "details"?}}."""

    error: Error


class Ready(BaseModel):
    status: str
    aliveWorkers: int | None = None
