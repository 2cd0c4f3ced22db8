"""The Celery application: chosen when CELERY_BROKER_URL is set. Workers run the same task body
(:func:`deepshield.jobs.task.run_job`) as the in-process runner.

Delivery guarantees, and why each setting:
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after
  the job ended, and goes back to the queue when the process running it dies, so a killed
  worker's job is delivered again to another worker.
- ``worker_prefetch_multiplier=1``: a worker holds no more jobs than it can run, so a busy
  worker never sits on work an idle one could take.
- the time limit is below the broker's visibility timeout (enforced by the settings), so a
  message only becomes visible again once the worker holding it is gone.
- attempts are counted in the database (:func:`repo.reclaim_job`), so a file that kills
  every worker that touches it is FAILED after JOB_MAX_ATTEMPTS instead of looping.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded
from celery import Celery, Task
from sqlalchemy.exc import DBAPIError

from deepshield.config import Settings
from deepshield.jobs.task import JobContext, run_job

TASK_NAME = "deepshield.run_job"
QUEUE_NAME = "deepshield"
# the soft limit raises inside the task (the job is FAILED with ANALYSIS_TIMEOUT); the hard
# limit, this much later, kills a process stuck in native code
HARD_LIMIT_GRACE_S = 30
# database unreachable inside a worker: retry after 1, 2, 4 ... 60 s, about 6 minutes in all
DB_RETRIES = 10
DB_RETRY_MAX_DELAY_S = 60


def celery_config(settings: Settings) -> dict[str, Any]:
    visibility = settings.celery_visibility_timeout_seconds
    soft_limit = settings.job_time_limit_seconds
    return {
        "broker_url": settings.celery_broker_url,
        "result_backend": settings.celery_result_backend,
        "task_ignore_result": True,  # results live in the database
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": soft_limit,
        "task_time_limit": min(soft_limit + HARD_LIMIT_GRACE_S, visibility - 1),
        "task_default_queue": QUEUE_NAME,
        "task_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        "broker_transport_options": {
            "visibility_timeout": visibility,
            # look for messages of dead workers often enough to honour short timeouts
            "unacked_restore_interval": max(1, min(10, visibility // 10)),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 3,
        },
        # an upload must not hang while the broker is down: two quick tries, then 503
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


def make_celery_app(settings: Settings) -> Celery:
    app = Celery("deepshield", set_as_current=False)
    app.conf.update(celery_config(settings))

    @app.task(name=TASK_NAME, bind=True, max_retries=DB_RETRIES)  # type: ignore[untyped-decorator]
    def analyze_job(task: Task, job_id: str, resume: bool = False) -> str:
        delivery = task.request.delivery_info or {}
        redelivered = resume or bool(delivery.get("redelivered"))
        try:
            return run_job(job_id, worker_context(settings), redelivered=redelivered)
        except DBAPIError as exc:
            # the database is unreachable (restarting, network): try again later. The job may
            # be RUNNING already, so the retry may take it over, counting an attempt.
            delay = min(DB_RETRY_MAX_DELAY_S, 2**task.request.retries)
            raise task.retry(
                exc=exc, countdown=delay, kwargs={"job_id": job_id, "resume": True}
            ) from exc

    return app


@cache
def worker_context(settings: Settings) -> JobContext:
    """Built on a worker process's first job (after the fork), then reused."""
    from deepshield.db.session import database_url, make_engine, make_session_factory
    from deepshield.engine.analyze import Analyzer
    from deepshield.jobs.worker_metrics import multiprocess_metrics_enabled
    from deepshield.metrics import Metrics
    from deepshield.storage import Storage

    storage = Storage(settings.storage_data_dir.resolve())
    storage.prepare()
    return JobContext(
        sessions=make_session_factory(make_engine(database_url(settings))),
        analyzer=Analyzer(settings),
        storage=storage,
        # recorded into the worker's shared metrics folder (deepshield worker --metrics-port);
        # job-state gauges are the API's, read from the database
        metrics=Metrics(lambda: {}) if multiprocess_metrics_enabled() else None,
        max_attempts=settings.job_max_attempts,
        timeout_errors=(SoftTimeLimitExceeded,),
    )
