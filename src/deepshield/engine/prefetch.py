"""Run a generator one step ahead in a background thread, so that decoding the next video frame
(PyAV releases the GIL) overlaps with detecting faces in this one (so does ONNX Runtime).

Written here because the standard library has no bounded, exception-forwarding, cancellable
generator prefetch, and a dependency for 40 lines is not worth it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(source: Iterator[T], depth: int = 2) -> Generator[T]:
    """Yield what ``source`` yields, produced at most ``depth`` items ahead in a thread.
    Exceptions in ``source`` are raised here; closing this generator stops the thread and
    closes ``source``."""
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                if not _put(items, item, stop):
                    break
        except BaseException as exc:  # forwarded to the consumer
            _put(items, exc, stop)
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        _put(items, _DONE, stop)

    thread = threading.Thread(target=produce, name="deepshield-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=10)


def _put(items: queue.Queue[object], value: object, stop: threading.Event) -> bool:
    """Put ``value`` as soon as there is room; False if the consumer stopped first."""
    while not stop.is_set():
        try:
            items.put(value, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
