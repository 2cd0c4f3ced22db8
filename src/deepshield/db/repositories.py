"""Queries, one function each, keyword-only arguments. State changes are conditional updates,
so two workers (or a restarted one) can never both own a job or move it backwards."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from deepshield.db.models import Job, JobState, Result, utcnow

MAX_ERROR_MESSAGE = 2000


def create_job(
    session: Session,
    *,
    job_id: str,
    kind: str,
    original_name: str,
    upload_name: str,
    size_bytes: int,
    owner_id: str | None = None,
) -> Job:
    job = Job(
        id=job_id,
        kind=kind,
        original_name=original_name[:255],
        upload_name=upload_name,
        size_bytes=size_bytes,
        owner_id=owner_id,
        state=JobState.QUEUED,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def job_with_upload(session: Session, *, upload_name: str) -> Job | None:
    return session.scalars(select(Job).where(Job.upload_name == upload_name)).first()


def get_result(session: Session, *, job_id: str) -> Result | None:
    return session.get(Result, job_id)


def claim_job(session: Session, *, job_id: str) -> bool:
    """QUEUED -> RUNNING for exactly one caller; counts the attempt."""
    return _claim(session, job_id=job_id, states=[JobState.QUEUED], max_attempts=None)


def reclaim_job(session: Session, *, job_id: str, max_attempts: int) -> bool:
    """For a message the broker delivered again because the worker holding it died: the job,
    still RUNNING in the database (or QUEUED), is taken over and the attempt counted, or
    FAILED with WORKER_LOST once it has used up ``max_attempts``, so that a file that kills
    workers ends instead of looping."""
    if _claim(
        session,
        job_id=job_id,
        states=[JobState.QUEUED, JobState.RUNNING],
        max_attempts=max_attempts,
    ):
        return True
    job = session.get(Job, job_id)
    if job is not None and job.state == JobState.RUNNING:
        fail_job(
            session,
            job_id=job_id,
            code="WORKER_LOST",
            message=f"the analysis stopped {job.attempts} times without finishing; giving up",
        )
    return False


def _claim(
    session: Session, *, job_id: str, states: list[JobState], max_attempts: int | None
) -> bool:
    now = utcnow()
    conditions = [Job.id == job_id, Job.state.in_(states)]
    if max_attempts is not None:
        conditions.append(Job.attempts < max_attempts)
    claimed = session.execute(
        update(Job)
        .where(*conditions)
        .values(
            state=JobState.RUNNING,
            attempts=Job.attempts + 1,
            stage="validating",
            progress=0.0,
            started_at=now,
            updated_at=now,
        )
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def record_progress(session: Session, *, job_id: str, stage: str, progress: float) -> bool:
    """Move a running job's progress forward; a stale or backward update changes nothing."""
    moved = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.RUNNING, Job.progress <= progress)
        .values(stage=stage, progress=progress, updated_at=utcnow())
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def complete_job(
    session: Session, *, job_id: str, payload: dict[str, Any], artifacts: list[str]
) -> bool:
    """Store the result (once: a repeated call keeps the first) and mark the job COMPLETED.
    A job deleted meanwhile stays deleted (returns False)."""
    if session.get(Job, job_id) is None:
        return False
    if session.get(Result, job_id) is None:
        session.add(Result(job_id=job_id, payload=payload, artifacts=artifacts))
        session.flush()
    done = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.RUNNING)
        .values(
            state=JobState.COMPLETED,
            stage="saving_results",
            progress=100.0,
            finished_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def fail_job(session: Session, *, job_id: str, code: str, message: str) -> bool:
    failed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
        .values(
            state=JobState.FAILED,
            error_code=code,
            error_message=message[:MAX_ERROR_MESSAGE],
            finished_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    return bool(failed.rowcount)  # type: ignore[attr-defined]


def recover_interrupted_jobs(session: Session, *, max_attempts: int) -> tuple[list[str], list[str]]:
    """Jobs left RUNNING by a dead process: requeued, or FAILED once out of attempts.
    Returns (requeued ids, failed ids)."""
    running = session.scalars(select(Job).where(Job.state == JobState.RUNNING)).all()
    requeued, failed = [], []
    for job in running:
        if job.attempts >= max_attempts:
            fail_job(
                session,
                job_id=job.id,
                code="WORKER_LOST",
                message=f"the analysis stopped {job.attempts} times without finishing; giving up",
            )
            failed.append(job.id)
        else:
            session.execute(
                update(Job)
                .where(Job.id == job.id, Job.state == JobState.RUNNING)
                .values(state=JobState.QUEUED, stage=None, progress=0.0, updated_at=utcnow())
            )
            requeued.append(job.id)
    return requeued, failed


def queued_job_ids(session: Session, *, created_before: datetime | None = None) -> list[str]:
    query = select(Job.id).where(Job.state == JobState.QUEUED)
    if created_before is not None:
        query = query.where(Job.created_at < created_before)
    return list(session.scalars(query.order_by(Job.created_at)))


def fail_silent_running_jobs(session: Session, *, silent_since: datetime) -> list[str]:
    """Jobs RUNNING without a progress update since ``silent_since``: their worker is gone and
    no broker will deliver them again (e.g. killed by the hard time limit). FAILED."""
    silent = list(
        session.scalars(
            select(Job.id).where(Job.state == JobState.RUNNING, Job.updated_at < silent_since)
        )
    )
    for job_id in silent:
        fail_job(
            session,
            job_id=job_id,
            code="WORKER_LOST",
            message="the worker running this analysis stopped answering",
        )
    return silent


def list_jobs(session: Session, *, owner_id: str | None, limit: int) -> Sequence[Job]:
    query = select(Job).order_by(Job.created_at.desc()).limit(limit)
    query = (
        query.where(Job.owner_id == owner_id) if owner_id else query.where(Job.owner_id.is_(None))
    )
    return session.scalars(query).all()


def delete_job(session: Session, *, job_id: str) -> bool:
    deleted = session.execute(delete(Job).where(Job.id == job_id))
    return bool(deleted.rowcount)  # type: ignore[attr-defined]


def jobs_finished_before(session: Session, *, cutoff: datetime) -> Sequence[Job]:
    """Jobs no longer QUEUED or RUNNING whose last change is older than ``cutoff``."""
    return session.scalars(
        select(Job).where(
            Job.state.in_([JobState.COMPLETED, JobState.FAILED]), Job.updated_at < cutoff
        )
    ).all()


def count_jobs_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
    counts = {state.value: 0 for state in JobState}
    counts.update({str(state): int(count) for state, count in rows})
    return counts
