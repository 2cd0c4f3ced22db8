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
