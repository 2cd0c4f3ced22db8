"""Everything the app builds once at start-up and shares: database, storage, engine, runner,
metrics. Kept on ``app.state.services``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from deepshield.config import Settings
from deepshield.db import repositories as repo
from deepshield.db.migrate import upgrade
from deepshield.db.models import utcnow
from deepshield.db.session import database_url, make_engine, make_session_factory, session_scope
from deepshield.engine.analyze import Analyzer
from deepshield.jobs.runner import InProcessRunner, JobRunner, QueueFull
from deepshield.jobs.task import JobContext, run_job
from deepshield.metrics import Metrics
from deepshield.service.auth import AttemptLimiter
from deepshield.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage
    analyzer: Analyzer
    metrics: Metrics
    runner: JobRunner
    runner_name: str
    # per client address and per account; per client address
    login_limiter: AttemptLimiter = field(
        default_factory=lambda: AttemptLimiter(limit=10, window_s=300)
    )
    register_limiter: AttemptLimiter = field(
        default_factory=lambda: AttemptLimiter(limit=10, window_s=3600)
    )

    def job_counts(self) -> dict[str, int]:
        with session_scope(self.sessions) as session:
            return repo.count_jobs_by_state(session)

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def broker_ok(self) -> bool | None:
        """Whether the Celery broker answers; None with the in-process runner."""
        if self.runner_name != "celery":
            return None  # and Celery may not even be installed
        return bool(self.runner.broker_ok())  # type: ignore[attr-defined]


def build_services(settings: Settings, analyzer: Analyzer | None = None) -> Services:
    engine = make_engine(database_url(settings))
    if settings.run_db_migrations_on_startup:
        upgrade(engine)
    sessions = make_session_factory(engine)
    storage = Storage(settings.storage_data_dir.resolve())
    storage.prepare()
    analyzer = analyzer or Analyzer(settings)
    holder: dict[str, Services] = {}
    metrics = Metrics(lambda: holder["services"].job_counts())
    context = JobContext(
        sessions=sessions,
        analyzer=analyzer,
        storage=storage,
        metrics=metrics,
        max_attempts=settings.job_max_attempts,
    )
    runner, runner_name = _make_runner(settings, context)
    services = Services(settings, engine, sessions, storage, analyzer, metrics, runner, runner_name)
    holder["services"] = services
    return services


def _make_runner(settings: Settings, context: JobContext) -> tuple[JobRunner, str]:
    if settings.celery_broker_url:
        # imported only here: the in-process default never needs the [worker] extra
        from deepshield.jobs.celery_app import make_celery_app
        from deepshield.jobs.celery_runner import CeleryRunner

        return CeleryRunner(make_celery_app(settings)), "celery"
    return InProcessRunner(partial(run_job, context=context)), "in-process"


def resume_jobs(services: Services) -> None:
    """After a restart of the in-process runner: jobs the dead process left RUNNING are
    requeued (or FAILED after JOB_MAX_ATTEMPTS), and every QUEUED job is handed to the runner
    again. With Celery the broker keeps the queue and the workers run on: nothing to do here
    (:func:`recover_celery_jobs` covers lost messages)."""
    if services.runner_name != "in-process":
        return
    with session_scope(services.sessions) as session:
        requeued, failed = repo.recover_interrupted_jobs(
            session, max_attempts=services.settings.job_max_attempts
        )
        queued = repo.queued_job_ids(session)
    if requeued or failed:
        log.warning(
            "recovered interrupted jobs: %d requeued, %d failed", len(requeued), len(failed)
        )
    for job_id in queued:
        try:
            services.runner.submit(job_id)
        except QueueFull:
            log.warning("queue full at start-up; %s stays QUEUED until the next start", job_id)


def recover_celery_jobs(services: Services) -> tuple[int, int]:
    """A periodic check for the Celery runner; returns (jobs sent again, jobs failed).

    - Jobs QUEUED for longer than JOB_REDISPATCH_AFTER_SECONDS while the broker's queue is
      empty lost their message (a broker restarted without persistence): sent again. A message
      for a job already taken is a no-op (claims are conditional), so a spare one is harmless.
    - Jobs RUNNING without any update for longer than the visibility timeout will never be
      delivered again (their worker was killed at the hard time limit): FAILED."""
    if services.runner_name != "celery":
        return 0, 0
    from deepshield.jobs.celery_runner import BROKER_ERRORS, CeleryRunner

    runner, settings = services.runner, services.settings
    assert isinstance(runner, CeleryRunner)
    now = utcnow()
    with session_scope(services.sessions) as session:
        failed = repo.fail_silent_running_jobs(
            session,
            silent_since=now - timedelta(seconds=settings.celery_visibility_timeout_seconds + 60),
        )
        stale = repo.queued_job_ids(
            session, created_before=now - timedelta(seconds=settings.job_redispatch_after_seconds)
        )
    if failed:
        log.warning("failed %d jobs whose worker went silent", len(failed))
    if not stale:
        return 0, len(failed)
    try:
        waiting = runner.waiting_messages()
    except BROKER_ERRORS:  # broker down: readiness reports it; try on the next pass
        return 0, len(failed)
    if waiting > 0:
        return 0, len(failed)
    for job_id in stale:
        runner.submit(job_id)
    log.warning("sent %d queued jobs to the broker again (their messages were lost)", len(stale))
    return len(stale), len(failed)
