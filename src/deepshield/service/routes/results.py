"""Job status and results, live progress (Server-Sent Events), artifacts, deletion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from deepshield.db import repositories as repo
from deepshield.db.models import Job, JobState
from deepshield.db.session import session_scope
from deepshield.engine.analyze import CROP_SUFFIX, HEATMAP_SUFFIX
from deepshield.service.deps import JobDep, ServicesDep, SessionDep
from deepshield.service.errors import ApiError
from deepshield.service.schemas import ErrorBody, ErrorEnvelope, JobStatus

router = APIRouter(tags=["results"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorEnvelope}}
TERMINAL = {JobState.COMPLETED, JobState.FAILED}
EVENTS_POLL_S = 0.25
EVENTS_MAX_S = 3600


def crop_name(heatmap_name: str) -> str:
    return heatmap_name.replace(HEATMAP_SUFFIX, CROP_SUFFIX)


def with_artifact_urls(job_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The engine names heatmap files; the API serves them through the artifacts route."""
    base = f"/api/artifacts/{job_id}"
    top = [
        {
            **item,
            "heatmap_overlay_url": f"{base}/{item['heatmap_overlay_url']}",
            "crop_url": f"{base}/{crop_name(item['heatmap_overlay_url'])}",
        }
        if item.get("heatmap_overlay_url")
        else item
        for item in payload.get("top_k_suspicious", [])
    ]
    return {
        **payload,
        "top_k_suspicious": top,
        "report_url": f"/api/artifacts/{job_id}/report.json",
    }


def job_status(job: Job, payload: dict[str, Any] | None) -> JobStatus:
    error = (
        ErrorBody(error_code=job.error_code, message=job.error_message or "")
        if job.error_code
        else None
    )
    return JobStatus(
        job_id=job.id,
        state=job.state,
        stage=job.stage,
        progress=job.progress,
        kind=job.kind,
        file_name=job.original_name,
        size_bytes=job.size_bytes,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=error,
        result=with_artifact_urls(job.id, payload) if payload is not None else None,
    )


@router.get("/results/{job_id}", response_model=JobStatus, responses=NOT_FOUND)
def get_result(job: JobDep, session: SessionDep) -> JobStatus:
    """The job's state and progress; the full result once it is COMPLETED."""
    result = repo.get_result(session, job_id=job.id) if job.state == JobState.COMPLETED else None
    return job_status(job, result.payload if result else None)


@router.get("/results/{job_id}/events", response_class=EventSourceResponse, responses=NOT_FOUND)
async def job_events(job: JobDep, services: ServicesDep) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: a ``progress`` event on every change, then one ``end`` event."""
    job_id, last, started = job.id, None, time.monotonic()

    def read() -> tuple[str, str | None, float, str | None] | None:
        with session_scope(services.sessions) as session:
            current = repo.get_job(session, job_id=job_id)
            return (
                None
                if current is None
                else (current.state, current.stage, current.progress, current.error_code)
            )

    while time.monotonic() - started < EVENTS_MAX_S:
        snapshot = await run_in_threadpool(read)
        if snapshot is None:
            yield ServerSentEvent(event="end", data={"job_id": job_id, "state": "DELETED"})
            return
        if snapshot != last:
            last = snapshot
            state, stage, progress, error_code = snapshot
            data = {
                "job_id": job_id,
                "state": state,
                "stage": stage,
                "progress": progress,
                "error_code": error_code,
            }
            yield ServerSentEvent(event="progress", data=data)
            if state in TERMINAL:
                yield ServerSentEvent(event="end", data=data)
                return
        await asyncio.sleep(EVENTS_POLL_S)


@router.get("/artifacts/{job_id}/{name}", responses=NOT_FOUND)
def get_artifact(
    job: JobDep, services: ServicesDep, name: str = Path(max_length=128)
) -> FileResponse:
    """A heatmap PNG or the JSON report of a job, by its exact name."""
    path = services.storage.artifact_path(job.id, name)
    if path is None:
        raise ApiError(404, "ARTIFACT_NOT_FOUND", "no such artifact")
    media_type = "image/png" if path.suffix == ".png" else "application/json"
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
    return FileResponse(path, media_type=media_type, headers=headers)


@router.delete(
    "/jobs/{job_id}", status_code=204, responses={**NOT_FOUND, 409: {"model": ErrorEnvelope}}
)
def delete_job(job: JobDep, services: ServicesDep, session: SessionDep) -> Response:
    """Delete a finished or queued job with its upload and artifacts."""
    if job.state == JobState.RUNNING:
        raise ApiError(
            409, "JOB_RUNNING", "the job is being analysed; delete it when it has finished"
        )
    upload_name, job_id = job.upload_name, job.id
    repo.delete_job(session, job_id=job_id)
    session.commit()
    services.storage.remove_job_files(job_id, upload_name)
    return Response(status_code=204)
