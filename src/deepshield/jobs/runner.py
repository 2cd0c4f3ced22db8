"""Job runners: one protocol, chosen by settings. The in-process runner (default) needs no
server: a bounded queue feeding worker threads in this process."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """The runner cannot take another job now; the caller should answer 503."""


class RunnerUnavailable(RuntimeError):
    """The job queue cannot be reached (e.g. the broker is down); the caller should answer 503."""


class JobRunner(Protocol):
    def start(self) -> None: ...

    def submit(self, job_id: str) -> None:
        """Queue a job that is already stored as QUEUED; raises :class:`QueueFull` or
        :class:`RunnerUnavailable`."""
        ...

    def shutdown(self) -> None: ...


class InProcessRunner:
    """``workers`` threads take job ids from a queue of at most ``max_queue``. Analysis uses
    every core through ONNX Runtime, so one worker is the right default on a small machine."""

    def __init__(
        self, run: Callable[[str], object], *, workers: int = 1, max_queue: int = 100
    ) -> None:
        self._run = run
        self._queue: queue.Queue[str] = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name=f"deepshield-job-{i}", daemon=True)
            for i in range(workers)
        ]
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()

    def submit(self, job_id: str) -> None:
        try:
            self._queue.put_nowait(job_id)
        except queue.Full as exc:
            raise QueueFull("the job queue is full") from exc

    def pending(self) -> int:
        return self._queue.qsize()

    def shutdown(self) -> None:
        """Finish the jobs in hand; queued ones stay QUEUED in the database for the next start."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._run(job_id)
            except Exception:  # the task body records failures itself; never kill the worker
                log.exception("job runner: unexpected error", extra={"job_id": job_id})
