"""The Celery runner with real processes: `deepshield serve` and `deepshield worker` over a real
Redis and PostgreSQL. Workers are killed with SIGKILL to check redelivery and the attempt
limit."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fixtures.media_factory import write_video
from tests.fixtures.processes import RedisServer, wait_until
from tests.fixtures.server import free_port
from tests.service.conftest import Deploy, wait_for

pytest.importorskip("celery", reason="Celery tests need the [worker] extra")
pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


def test_jobs_run_on_a_celery_worker_with_postgres(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    photo_bytes: bytes,
    deploy: Deploy,
) -> None:
    app = deploy(pg_url, redis_url, REQUIRE_REDIS_FOR_READY="true")
    health = app.api.get("/api/health").json()
    assert health["runner"] == "celery" and health["checks"] == {"database": "ok", "broker": "ok"}
    assert app.api.get("/api/health/ready").json()["checks"]["broker"] == "ok"

    job_id = app.upload("face.jpg", photo_bytes)
    assert app.job(job_id)["state"] == "QUEUED"  # no worker yet: it waits in the broker
    app.worker("w1")
    body = wait_for(app.api, job_id, timeout=60)
    assert body["state"] == "COMPLETED" and body["attempts"] == 1
    assert body["result"]["people"], "the astronaut's face was analysed"
    # the worker wrote the heatmap into the shared data directory; the API serves it
    heatmap = app.api.get(body["result"]["top_k_suspicious"][0]["heatmap_overlay_url"])
    assert heatmap.status_code == 200 and heatmap.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_worker_killed_mid_job_is_redelivered_to_a_second_worker(
    pg_url: str, video_bytes: bytes, private_redis: RedisServer, deploy: Deploy
) -> None:
    app = deploy(
        pg_url,
        private_redis.url,
        CELERY_VISIBILITY_TIMEOUT_SECONDS="8",
        JOB_TIME_LIMIT_SECONDS="6",
    )
    first = app.worker("first")
    job_id = app.upload("clip.mp4", video_bytes, kind="video")
    wait_until(lambda: app.job(job_id)["state"] == "RUNNING", 30, "the job to start", 0.02)
    first.kill()
    assert app.job(job_id)["state"] == "RUNNING"  # the dead worker's job, unfinished

    app.worker("second")
    body = wait_for(app.api, job_id, timeout=60)
    assert body["state"] == "COMPLETED", body
    assert body["attempts"] == 2
    assert f"run_job[{job_id}] succeeded" in app.workers[1].log()
    assert "succeeded" not in first.log()


def test_a_file_that_kills_its_worker_fails_after_the_attempt_limit(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    video_bytes: bytes,
    photo_bytes: bytes,
    deploy: Deploy,
) -> None:
    """The pool process dies every time it touches the job (here: SIGKILL, as a decoder crash
    or the OOM killer would): the message is rejected back to the queue at once, and after
    JOB_MAX_ATTEMPTS the job is FAILED instead of killing workers for ever."""
    app = deploy(pg_url, redis_url, JOB_MAX_ATTEMPTS="2")
    worker = app.worker("w1")
    job_id = app.upload("clip.mp4", video_bytes, kind="video")
    for attempt in (1, 2):
        wait_until(
            lambda n=attempt: (j := app.job(job_id))["state"] == "RUNNING" and j["attempts"] == n,
            60,
            f"attempt {attempt}",
            0.02,
        )
        for child in worker.pool_children():
            os.kill(child, signal.SIGKILL)
    body = wait_for(app.api, job_id, timeout=60)
    assert body["state"] == "FAILED" and body["error"]["error_code"] == "WORKER_LOST", body
    assert body["attempts"] == 2

    # the worker itself survived its pool processes and takes the next job
    assert worker.process.poll() is None
    assert wait_for(app.api, app.upload("face.jpg", photo_bytes))["state"] == "COMPLETED"


def test_a_job_over_its_time_limit_fails_with_a_clear_code(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    astronaut: np.ndarray,
    photo_bytes: bytes,
    deploy: Deploy,
) -> None:
    # 240 frames, every one analysed: several seconds of work on any machine, against a 1 s limit
    frames = [np.roll(astronaut, 2 * i, axis=1) for i in range(240)]
    clip = write_video(tmp_path / "long.mp4", frames, fps=24).read_bytes()
    app = deploy(
        pg_url,
        redis_url,
        JOB_TIME_LIMIT_SECONDS="1",
        CELERY_VISIBILITY_TIMEOUT_SECONDS="30",
        VIDEO_MAX_FRAMES="240",
    )
    app.worker("w1")
    body = wait_for(app.api, app.upload("long.mp4", clip, kind="video"), timeout=60)
    assert body["state"] == "FAILED" and body["error"]["error_code"] == "ANALYSIS_TIMEOUT", body
    assert body["attempts"] == 1  # failed for good, not handed to another worker
    assert wait_for(app.api, app.upload("face.jpg", photo_bytes))["state"] == "COMPLETED"


def test_a_worker_serves_prometheus_metrics_of_its_jobs(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    photo_bytes: bytes,
    deploy: Deploy,
) -> None:
    """Jobs run in the worker's pool processes; their counters and stage timings reach the
    worker's own endpoint through prometheus_client's multiprocess mode."""
    app = deploy(pg_url, redis_url)
    port = free_port()
    app.worker("w1", f"--metrics-port={port}")
    for name in ("a.jpg", "b.jpg"):
        assert wait_for(app.api, app.upload(name, photo_bytes))["state"] == "COMPLETED"
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'deepshield_jobs_finished_total{state="COMPLETED"} 2.0' in metrics
    assert 'deepshield_stage_seconds_count{stage="inference"} 2.0' in metrics
    assert 'deepshield_analysis_seconds_count{kind="image"} 2.0' in metrics
