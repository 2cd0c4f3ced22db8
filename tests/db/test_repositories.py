"""Job state rules on a real SQLite database built by the Alembic migrations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from deepshield.db import repositories as repo
from deepshield.db.migrate import current_revision, upgrade
from deepshield.db.models import Base, Job, utcnow
from deepshield.db.session import make_engine, make_session_factory, session_scope


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def new_job(sessions: sessionmaker[Session], job_id: str = "a" * 32) -> str:
    with session_scope(sessions) as session:
        repo.create_job(
            session,
            job_id=job_id,
            kind="image",
            original_name="x.jpg",
            upload_name=f"{job_id}.jpg",
            size_bytes=10,
        )
    return job_id


def test_migrations_are_the_schema(engine: Engine) -> None:
    assert current_revision(engine) == "0002"
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_only_one_claim_wins_under_contention(sessions: sessionmaker[Session]) -> None:
    job_id = new_job(sessions)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        with session_scope(sessions) as session:
            wins.append(repo.claim_job(session, job_id=job_id))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]
    with session_scope(sessions) as session:
        job = repo.get_job(session, job_id=job_id)
        assert job is not None and (job.state, job.attempts) == ("RUNNING", 1)


def test_progress_only_moves_forward(sessions: sessionmaker[Session]) -> None:
    job_id = new_job(sessions)
    with session_scope(sessions) as session:
        assert not repo.record_progress(
            session, job_id=job_id, stage="inference", progress=70
        )  # not running
        repo.claim_job(session, job_id=job_id)
        assert repo.record_progress(session, job_id=job_id, stage="inference", progress=70)
        assert not repo.record_progress(session, job_id=job_id, stage="face_detection", progress=30)
        job = repo.get_job(session, job_id=job_id)
        assert job is not None and (job.stage, job.progress) == ("inference", 70)


def test_results_are_written_once(sessions: sessionmaker[Session]) -> None:
    job_id = new_job(sessions)
    with session_scope(sessions) as session:
        repo.claim_job(session, job_id=job_id)
        assert repo.complete_job(session, job_id=job_id, payload={"n": 1}, artifacts=["a.png"])
        assert not repo.complete_job(session, job_id=job_id, payload={"n": 2}, artifacts=[])
        result = repo.get_result(session, job_id=job_id)
        assert result is not None and result.payload == {"n": 1}
        assert not repo.fail_job(
            session, job_id=job_id, code="X", message="late"
        )  # end states stay


def test_interrupted_jobs_are_requeued_then_failed_after_the_attempt_limit(
    sessions: sessionmaker[Session],
) -> None:
    first, second = new_job(sessions, "b" * 32), new_job(sessions, "c" * 32)
    with session_scope(sessions) as session:
        repo.claim_job(session, job_id=first)
        repo.claim_job(session, job_id=second)
        session.execute(update(Job).where(Job.id == second).values(attempts=3))
    with session_scope(sessions) as session:
        requeued, failed = repo.recover_interrupted_jobs(session, max_attempts=3)
    assert (requeued, failed) == ([first], [second])
    with session_scope(sessions) as session:
        a, b = repo.get_job(session, job_id=first), repo.get_job(session, job_id=second)
        assert a is not None and b is not None
        assert (a.state, a.progress, a.attempts) == ("QUEUED", 0.0, 1)
        assert (b.state, b.error_code) == ("FAILED", "WORKER_LOST")
        assert repo.queued_job_ids(session) == [first]


def test_finished_jobs_past_their_ttl(sessions: sessionmaker[Session]) -> None:
    old, fresh = new_job(sessions, "d" * 32), new_job(sessions, "e" * 32)
    with session_scope(sessions) as session:
        for job_id in (old, fresh):
            repo.claim_job(session, job_id=job_id)
            repo.fail_job(session, job_id=job_id, code="X", message="x")
        session.execute(
            update(Job).where(Job.id == old).values(updated_at=utcnow() - timedelta(days=2))
        )
    with session_scope(sessions) as session:
        expired = repo.jobs_finished_before(session, cutoff=utcnow() - timedelta(days=1))
        assert [job.id for job in expired] == [old]
        assert repo.count_jobs_by_state(session) == {
            "QUEUED": 0,
            "RUNNING": 0,
            "COMPLETED": 0,
            "FAILED": 2,
        }


def job_state(sessions: sessionmaker[Session], job_id: str) -> tuple[str, int, str | None]:
    with session_scope(sessions) as session:
        job = repo.get_job(session, job_id=job_id)
        assert job is not None
        return job.state, job.attempts, job.error_code


def test_a_redelivered_job_is_taken_over_until_its_attempts_run_out(
    sessions: sessionmaker[Session],
) -> None:
    job_id = new_job(sessions)
    with session_scope(sessions) as session:
        assert repo.claim_job(session, job_id=job_id)
        # a plain (first) delivery never takes a RUNNING job from a live worker
        assert not repo.claim_job(session, job_id=job_id)
        # the broker delivers again because that worker died: taken over, attempt counted
        assert repo.reclaim_job(session, job_id=job_id, max_attempts=2)
    assert job_state(sessions, job_id) == ("RUNNING", 2, None)
    with session_scope(sessions) as session:  # and it died again: out of attempts
        assert not repo.reclaim_job(session, job_id=job_id, max_attempts=2)
    assert job_state(sessions, job_id) == ("FAILED", 2, "WORKER_LOST")


def test_reclaim_never_revives_a_finished_or_deleted_job(sessions: sessionmaker[Session]) -> None:
    done, gone = new_job(sessions, "d" * 32), new_job(sessions, "e" * 32)
    with session_scope(sessions) as session:
        repo.claim_job(session, job_id=done)
        repo.complete_job(session, job_id=done, payload={}, artifacts=[])
        repo.delete_job(session, job_id=gone)
        assert not repo.reclaim_job(session, job_id=done, max_attempts=3)
        assert not repo.reclaim_job(session, job_id=gone, max_attempts=3)
    assert job_state(sessions, done) == ("COMPLETED", 1, None)


def test_silent_running_jobs_are_failed_and_busy_ones_kept(sessions: sessionmaker[Session]) -> None:
    silent, busy = new_job(sessions, "s" * 32), new_job(sessions, "b" * 32)
    with session_scope(sessions) as session:
        repo.claim_job(session, job_id=silent)
        repo.claim_job(session, job_id=busy)
        session.execute(
            update(Job).where(Job.id == silent).values(updated_at=utcnow() - timedelta(hours=2))
        )
    with session_scope(sessions) as session:
        failed = repo.fail_silent_running_jobs(session, silent_since=utcnow() - timedelta(hours=1))
    assert failed == [silent]
    assert job_state(sessions, silent)[::2] == ("FAILED", "WORKER_LOST")
    assert job_state(sessions, busy)[0] == "RUNNING"


def test_queued_jobs_can_be_listed_by_age(sessions: sessionmaker[Session]) -> None:
    old, new = new_job(sessions, "o" * 32), new_job(sessions, "n" * 32)
    with session_scope(sessions) as session:
        session.execute(
            update(Job).where(Job.id == old).values(created_at=utcnow() - timedelta(minutes=5))
        )
    with session_scope(sessions) as session:
        cutoff = utcnow() - timedelta(minutes=1)
        assert repo.queued_job_ids(session, created_before=cutoff) == [old]
        assert repo.queued_job_ids(session) == [old, new]
