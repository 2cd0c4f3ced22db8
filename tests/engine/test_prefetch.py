"""The frame prefetcher keeps order, forwards errors and stops its thread when closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from deepshield.engine.errors import CORRUPT_VIDEO, MediaError
from deepshield.engine.prefetch import prefetch


def test_yields_everything_in_order() -> None:
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_an_error_in_the_source_is_raised_to_the_consumer_after_the_items_before_it() -> None:
    def frames() -> Iterator[int]:
        yield 1
        yield 2
        raise MediaError(CORRUPT_VIDEO, "broken at frame 3")

    seen: list[int] = []
    with pytest.raises(MediaError, match="frame 3"):
        for item in prefetch(frames()):
            seen.append(item)
    assert seen == [1, 2]


def test_closing_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    before = threading.active_count()
    stream = prefetch(endless(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()
    assert closed.wait(5)
    assert threading.active_count() == before
