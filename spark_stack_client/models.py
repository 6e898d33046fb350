"""Typed results of the job API (mirrors spark_api/models.py; plain dataclasses, no pydantic)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The API's job states (spark_api/states.py); the last four are terminal.
STATES = ("SUBMITTED", "RUNNING", "FINISHED", "FAILED", "KILLED", "ERROR")
TERMINAL = frozenset({"FINISHED", "FAILED", "KILLED", "ERROR"})


@dataclass(frozen=True)
class Job:
    id: str
    job: str
    state: str
    driverId: str
    sparkState: str | None = None
    message: str | None = None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(id=data["id"], job=data["job"], state=data["state"],
                   driverId=data["driverId"], sparkState=data.get("sparkState"),
                   message=data.get("message"), links=dict(data.get("links") or {}))


@dataclass(frozen=True)
class JobPage:
    items: list[Job]
    nextOffset: int | None = None
    partial: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobPage:
        return cls(items=[Job.from_json(j) for j in data["items"]],
                   nextOffset=data.get("nextOffset"), partial=bool(data.get("partial")))


@dataclass(frozen=True)
class LogChunk:
    id: str
    stream: str
    offset: int
    length: int
    total: int
    nextOffset: int
    text: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogChunk:
        return cls(**{k: data[k] for k in
                      ("id", "stream", "offset", "length", "total", "nextOffset", "text")})


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    parameters: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CatalogEntry:
        return cls(name=data["name"], description=data["description"],
                   parameters=dict(data.get("parameters") or {}))
