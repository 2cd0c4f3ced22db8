"""POST /api/analyze-image and /api/analyze-video: validate, store, queue; answer 202."""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, UploadFile
from starlette.concurrency import run_in_threadpool

from deepshield.db import accounts
from deepshield.db import repositories as repo
from deepshield.db.models import JobState, User, utcnow
from deepshield.db.session import session_scope
from deepshield.jobs.runner import QueueFull, RunnerUnavailable
from deepshield.service.deps import ServicesDep, UserDep
from deepshield.service.errors import ApiError
from deepshield.service.schemas import ErrorEnvelope, JobAccepted
from deepshield.service.services import Services
from deepshield.service.uploads import save_upload

log = logging.getLogger(__name__)
router = APIRouter(tags=["analysis"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope} for code in (400, 413, 415, 422, 429, 503)
}


@router.post("/analyze-image", status_code=202, response_model=JobAccepted, responses=ERRORS)
async def analyze_image(file: UploadFile, services: ServicesDep, user: UserDep) -> JobAccepted:
    """Queue a JPEG, PNG or WebP image for analysis."""
    return await accept(file, "image", services, user)


@router.post("/analyze-video", status_code=202, response_model=JobAccepted, responses=ERRORS)
async def analyze_video(file: UploadFile, services: ServicesDep, user: UserDep) -> JobAccepted:
    """Queue an MP4, MOV, WebM or MKV video for analysis."""
    return await accept(file, "video", services, user)


async def accept(file: UploadFile, kind: str, services: Services, user: User | None) -> JobAccepted:
    settings = services.settings
    saved = await save_upload(
        file,
        kind=kind,
        storage=services.storage,
        max_bytes=settings.file_max_upload_mb * 1024 * 1024,
        max_duration_s=settings.video_max_duration_seconds,
    )
    job_id = uuid.uuid4().hex
    day = utcnow().date()
    quota_user = user.id if user is not None and user.tier == "free" else None

    def store() -> None:
        with session_scope(services.sessions) as session:
            if quota_user is not None:
                # counted in the job's own transaction: a refused job never counts, two
                # concurrent uploads can never both take the last slot
                limit = settings.saas_free_daily_uploads
                if not accounts.consume_daily_upload(
                    session, user_id=quota_user, day=day, limit=limit
                ):
                    raise ApiError(
                        429,
                        "QUOTA_EXCEEDED",
                        f"the free tier allows {limit} uploads a day (UTC); try again tomorrow",
                        {"Retry-After": str(seconds_until_utc_midnight())},
                    )
            repo.create_job(
                session,
                job_id=job_id,
                kind=kind,
                original_name=saved.original_name,
                upload_name=saved.upload_name,
                size_bytes=saved.size_bytes,
                owner_id=user.id if user else None,
            )

    try:
        await run_in_threadpool(store)
    except BaseException:
        await run_in_threadpool(services.storage.remove_job_files, job_id, saved.upload_name)
        raise
    try:
        await run_in_threadpool(services.runner.submit, job_id)
    except QueueFull as exc:
        await run_in_threadpool(_forget, services, job_id, saved.upload_name, quota_user, day)
        raise ApiError(
            503, "QUEUE_FULL", "too many jobs are waiting; try again shortly", {"Retry-After": "30"}
        ) from exc
    except RunnerUnavailable as exc:
        log.error("job queue unreachable: %s", exc)
        await run_in_threadpool(_forget, services, job_id, saved.upload_name, quota_user, day)
        raise ApiError(
            503,
            "QUEUE_UNAVAILABLE",
            "the job queue is unreachable; nothing was stored, try again shortly",
            {"Retry-After": "30"},
        ) from exc
    except BaseException:
        await run_in_threadpool(_forget, services, job_id, saved.upload_name, quota_user, day)
        raise
    services.metrics.upload_bytes.inc(saved.size_bytes)
    return JobAccepted(
        job_id=job_id,
        state=JobState.QUEUED,
        status_url=f"/api/results/{job_id}",
        events_url=f"/api/results/{job_id}/events",
    )


def seconds_until_utc_midnight() -> int:
    now = utcnow()
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()))


def _forget(
    services: Services, job_id: str, upload_name: str, refund_user: str | None, day: date
) -> None:
    """Undo an upload that could not be queued: no job row, no file, no quota used."""
    with session_scope(services.sessions) as session:
        repo.delete_job(session, job_id=job_id)
        if refund_user is not None:
            accounts.release_daily_upload(session, user_id=refund_user, day=day)
    services.storage.remove_job_files(job_id, upload_name)
