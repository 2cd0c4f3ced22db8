"""API schemas (pydantic), separate from the ORM models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    error_code: str
    message: str


class ErrorEnvelope(BaseModel):
    request_id: str | None
    error: ErrorBody


class JobAccepted(BaseModel):
    job_id: str
    state: str
    status_url: str
    events_url: str


class JobStatus(BaseModel):
    job_id: str
    state: str
    stage: str | None
    progress: float
    kind: str
    file_name: str
    size_bytes: int
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: ErrorBody | None
    result: dict[str, Any] | None


class Health(BaseModel):
    status: str
    version: str
    model_version: str
    runner: str
    checks: dict[str, str]
