"""Everything the app builds once at start-up and shares: database, storage, engine, runner,
metrics. Kept on ``app.state.services``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from deepshield.config import Settings
from deepshield.db import repositories as repo
from deepshield.db.migrate import upgrade
from deepshield.db.session import database_url, make_engine, make_session_factory, session_scope
from deepshield.engine.analyze import Analyzer
from deepshield.jobs.runner import InProcessRunner, JobRunner, QueueFull
from deepshield.jobs.task import JobContext, run_job
from deepshield.metrics import Metrics
from deepshield.service.auth import AttemptLimiter
from deepshield.storage import Storage

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


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
    context = JobContext(sessions=sessions, analyzer=analyzer, storage=storage, metrics=metrics)
    runner = InProcessRunner(partial(run_job, context=context))
    services = Services(
        settings, engine, sessions, storage, analyzer, metrics, runner, "in-process"
    )
    holder["services"] = services
    return services


def resume_jobs(services: Services) -> None:
    """After a restart: jobs a dead process left RUNNING are requeued (or FAILED after
    MAX_ATTEMPTS), and every QUEUED job is handed to the runner again."""
    with session_scope(services.sessions) as session:
        requeued, failed = repo.recover_interrupted_jobs(session, max_attempts=MAX_ATTEMPTS)
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
