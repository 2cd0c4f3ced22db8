"""The task body: the same function runs a job in the in-process runner and in a Celery worker.

claim (QUEUED -> RUNNING, attempt counted) -> analyze with progress written forward-only ->
artifacts + result written idempotently -> COMPLETED; bad media -> FAILED with its code."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from deepshield.db import repositories as repo
from deepshield.db.session import session_scope
from deepshield.engine.analyze import Analyzer
from deepshield.engine.errors import MediaError
from deepshield.metrics import Metrics
from deepshield.storage import Storage

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.3
REPORT_NAME = "report.json"


@dataclass
class JobContext:
    sessions: sessionmaker[Session]
    analyzer: Analyzer
    storage: Storage
    metrics: Metrics | None = None
    max_attempts: int = 3
    # what the runner raises when a job overruns its time limit (Celery's soft limit)
    timeout_errors: tuple[type[BaseException], ...] = ()


class _ProgressWriter:
    """Writes progress to the database at most every PROGRESS_EVERY_S (always on a new stage)
    and times each stage for the metrics."""

    def __init__(self, job_id: str, context: JobContext) -> None:
        self.job_id, self.context = job_id, context
        self.stage: str | None = None
        self.stage_started = time.monotonic()
        self.last_write = 0.0

    def __call__(self, stage: str, percent: float) -> None:
        now = time.monotonic()
        new_stage = stage != self.stage
        if new_stage:
            self._close_stage(now)
            self.stage, self.stage_started = stage, now
        if not new_stage and now - self.last_write < PROGRESS_EVERY_S:
            return
        self.last_write = now
        with session_scope(self.context.sessions) as session:
            repo.record_progress(
                session, job_id=self.job_id, stage=stage, progress=round(percent, 1)
            )

    def _close_stage(self, now: float) -> None:
        if self.stage is not None and self.context.metrics is not None:
            self.context.metrics.stage_seconds.labels(self.stage).observe(now - self.stage_started)

    def finish(self) -> None:
        self._close_stage(time.monotonic())


def run_job(job_id: str, context: JobContext, *, redelivered: bool = False) -> str:
    """Run one job to an end state; returns the state it ended in (or why it did nothing).

    ``redelivered``: the broker hands this job out again because the worker that held it
    died, so a RUNNING job may be taken over (see :func:`repo.reclaim_job`)."""
    with session_scope(context.sessions) as session:
        if redelivered:
            claimed = repo.reclaim_job(session, job_id=job_id, max_attempts=context.max_attempts)
        else:
            claimed = repo.claim_job(session, job_id=job_id)
        if not claimed:
            return "NOT_CLAIMED"  # already taken, finished, deleted, or out of attempts
        job = repo.get_job(session, job_id=job_id)
        assert job is not None
        upload = context.storage.upload_path(job.upload_name)
    log.info("job started", extra={"job_id": job_id})
    on_progress = _ProgressWriter(job_id, context)
    artifacts_dir = context.storage.job_artifacts(job_id)
    try:
        result = context.analyzer.analyze(
            upload, on_progress=on_progress, artifacts_dir=artifacts_dir
        )
    except MediaError as exc:
        log.info("job failed: %s", exc.code, extra={"job_id": job_id})
        return _fail(job_id, context, exc.code, exc.message)
    except context.timeout_errors:
        log.warning("job over its time limit", extra={"job_id": job_id})
        return _fail(job_id, context, "ANALYSIS_TIMEOUT", "the analysis took too long")
    except Exception:
        log.exception("job crashed", extra={"job_id": job_id})
        return _fail(job_id, context, "INTERNAL_ERROR", "the analysis failed unexpectedly")
    payload = result.to_dict()
    on_progress("saving_results", 98.0)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    (artifacts_dir / REPORT_NAME).write_text(json.dumps(payload, indent=2))
    names = sorted(p.name for p in artifacts_dir.iterdir() if p.is_file())
    with session_scope(context.sessions) as session:
        repo.complete_job(session, job_id=job_id, payload=payload, artifacts=names)
    on_progress.finish()
    if context.metrics is not None:
        context.metrics.analysis_seconds.labels(payload["media"]["kind"]).observe(
            result.processing_ms / 1000
        )
        context.metrics.jobs_finished.labels("COMPLETED").inc()
    log.info("job completed", extra={"job_id": job_id})
    return "COMPLETED"


def _fail(job_id: str, context: JobContext, code: str, message: str) -> str:
    with session_scope(context.sessions) as session:
        repo.fail_job(session, job_id=job_id, code=code, message=message)
    if context.metrics is not None:
        context.metrics.jobs_finished.labels("FAILED").inc()
    return "FAILED"
