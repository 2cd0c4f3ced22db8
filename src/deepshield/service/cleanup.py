"""Housekeeping: jobs finished longer than CLEANUP_TTL_SECONDS ago are deleted with their
upload and artifacts; stray files without a job (e.g. after a crash mid-upload) go too."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from deepshield.db import repositories as repo
from deepshield.db.models import utcnow
from deepshield.db.session import session_scope
from deepshield.service.services import Services

log = logging.getLogger(__name__)


def sweep(services: Services) -> int:
    """One cleanup pass; returns the number of jobs removed."""
    ttl = services.settings.cleanup_ttl_seconds
    with session_scope(services.sessions) as session:
        expired = [
            (job.id, job.upload_name)
            for job in repo.jobs_finished_before(session, cutoff=utcnow() - timedelta(seconds=ttl))
        ]
        for job_id, _ in expired:
            repo.delete_job(session, job_id=job_id)
    for job_id, upload_name in expired:
        services.storage.remove_job_files(job_id, upload_name)
    _remove_stray_files(services, ttl)
    if expired:
        log.info("cleanup removed %d expired jobs", len(expired))
    return len(expired)


def _remove_stray_files(services: Services, ttl: int) -> None:
    cutoff = time.time() - ttl
    storage = services.storage
    with session_scope(services.sessions) as session:
        for entry in storage.uploads.iterdir():
            if (
                entry.stat().st_mtime < cutoff
                and repo.job_with_upload(session, upload_name=entry.name) is None
            ):
                storage.remove_path(entry)
        for entry in storage.artifacts.iterdir():
            if entry.stat().st_mtime < cutoff and repo.get_job(session, job_id=entry.name) is None:
                storage.remove_path(entry)
