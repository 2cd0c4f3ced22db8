"""Infrastructure faults with real processes: the broker (a private Redis) stopped and started
again, the database (a private PostgreSQL cluster) restarted under a running API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.processes import PostgresCluster, RedisServer, wait_until
from tests.service.conftest import Deploy, files_under, wait_for

pytest.importorskip("celery", reason="Celery tests need the [worker] extra")
pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


def test_redis_outage_refuses_uploads_loses_nothing_and_recovers(
    tmp_path: Path,
    pg_url: str,
    photo_bytes: bytes,
    private_redis: RedisServer,  # keeps nothing on disk, like this machine's
    deploy: Deploy,
) -> None:
    redis = private_redis
    app = deploy(
        pg_url, redis.url, REQUIRE_REDIS_FOR_READY="true", JOB_REDISPATCH_AFTER_SECONDS="2"
    )
    queued = [app.upload(f"{i}.jpg", photo_bytes) for i in range(2)]  # no worker yet

    redis.stop()  # the queued messages die with it
    ready = app.api.get("/api/health/ready")
    assert ready.status_code == 503 and ready.json()["error"]["error_code"] == "NOT_READY"
    assert "broker" in ready.json()["error"]["message"]
    refused = app.api.post("/api/analyze-image", files={"file": ("x.jpg", photo_bytes)})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["error_code"] == "QUEUE_UNAVAILABLE"
    assert refused.headers["retry-after"]
    # nothing half-stored for the refused upload; the queued jobs are still there
    assert len(files_under(tmp_path / "data" / "uploads")) == 2
    assert [app.job(j)["state"] for j in queued] == ["QUEUED", "QUEUED"]
    assert app.api.get("/api/health").json()["checks"]["broker"] == "unreachable"

    redis.start()
    wait_until(lambda: app.api.get("/api/health/ready").status_code == 200, 20, "ready")
    app.worker("w1")
    for job_id in queued:  # their messages were lost: the API sends them again
        body = wait_for(app.api, job_id, timeout=60)
        assert body["state"] == "COMPLETED" and body["attempts"] == 1
    assert wait_for(app.api, app.upload("after.jpg", photo_bytes))["state"] == "COMPLETED"


def test_api_recovers_from_a_postgres_restart_without_its_own(
    tmp_path: Path,
    redis_url: str,
    photo_bytes: bytes,
    private_postgres: PostgresCluster,
    deploy: Deploy,
) -> None:
    cluster = private_postgres
    app = deploy(cluster.url, redis_url)
    app.worker("w1")
    before = app.upload("before.jpg", photo_bytes)
    assert wait_for(app.api, before)["state"] == "COMPLETED"

    cluster.stop()
    ready = app.api.get("/api/health/ready")
    assert ready.status_code == 503 and "database" in ready.json()["error"]["message"]
    refused = app.api.post("/api/analyze-image", files={"file": ("x.jpg", photo_bytes)})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["error_code"] == "DATABASE_UNAVAILABLE"
    assert app.api.get(f"/api/results/{before}").status_code == 503
    assert len(files_under(tmp_path / "data" / "uploads")) == 1  # only the stored job's

    cluster.start()
    wait_until(lambda: app.api.get("/api/health/ready").status_code == 200, 30, "ready")
    assert app.job(before)["state"] == "COMPLETED"  # stored before the restart, kept
    after = app.upload("after.jpg", photo_bytes)
    assert wait_for(app.api, after)["state"] == "COMPLETED"
    assert app.server.poll() is None  # the same API process throughout


def test_a_worker_waits_out_a_database_restart(
    redis_url: str,
    photo_bytes: bytes,
    private_postgres: PostgresCluster,
    deploy: Deploy,
) -> None:
    """A queued job reaches a worker while PostgreSQL is down: the task retries later instead
    of being lost, and the job completes once the database is back."""
    cluster = private_postgres
    app = deploy(cluster.url, redis_url)
    job_id = app.upload("queued.jpg", photo_bytes)  # no worker yet
    cluster.stop()
    worker = app.worker("w1")
    wait_until(lambda: "Retry in" in worker.log(), 30, "the task to schedule a retry")
    cluster.start()
    body = wait_for(app.api, job_id, timeout=90)
    assert body["state"] == "COMPLETED" and body["attempts"] == 1, body
