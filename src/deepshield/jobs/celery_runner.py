"""The API side of the Celery runner: publishes job ids to the broker and answers whether the
broker is reachable. The workers' side is :mod:`deepshield.jobs.celery_app`."""

from __future__ import annotations

from amqp.exceptions import ChannelError
from celery import Celery
from kombu.exceptions import OperationalError

from deepshield.jobs.celery_app import QUEUE_NAME, TASK_NAME
from deepshield.jobs.runner import RunnerUnavailable

BROKER_ERRORS = (OperationalError, ConnectionError, OSError)


class CeleryRunner:
    def __init__(self, app: Celery) -> None:
        self._app = app

    def start(self) -> None:
        """Nothing to start here: the workers are their own processes."""

    def submit(self, job_id: str) -> None:
        try:
            # the job id doubles as the task id, so worker logs and `celery inspect` name jobs
            self._app.send_task(TASK_NAME, args=[job_id], task_id=job_id, queue=QUEUE_NAME)
        except BROKER_ERRORS as exc:
            raise RunnerUnavailable(f"the job broker is unreachable: {exc}") from exc

    def broker_ok(self) -> bool:
        try:
            self.waiting_messages()
            return True
        except BROKER_ERRORS:
            return False

    def waiting_messages(self) -> int:
        """Messages in the queue not yet taken by a worker (raises when unreachable)."""
        with self._app.connection_for_write() as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0.2, timeout=3
            )
            try:
                declared = connection.default_channel.queue_declare(queue=QUEUE_NAME, passive=True)
            except ChannelError:  # nothing was ever published to it
                return 0
            return int(declared.message_count)

    def shutdown(self) -> None:
        self._app.close()
