"""Health, readiness, metrics, OpenAPI, CORS, rate limit, back-pressure and housekeeping."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update

from deepshield.db.models import Job, utcnow
from deepshield.db.session import session_scope
from deepshield.engine.analyze import Analyzer
from deepshield.jobs.runner import QueueFull
from deepshield.service import cleanup
from deepshield.service.app import create_app
from tests.service.conftest import files_under, make_settings, wait_for


def test_health_live_ready(client: TestClient) -> None:
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["checks"] == {"database": "ok"}
    assert health["runner"] == "in-process" and health["model_version"]
    assert client.get("/api/health/live").json() == {"status": "ok"}
    assert client.get("/api/health/ready").status_code == 200


def test_ready_fails_when_the_database_is_unreachable(client: TestClient, tmp_path: Path) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    working = services.engine
    services.engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3")
    try:
        response = client.get("/api/health/ready")
        assert response.status_code == 503 and response.json()["error"]["error_code"] == "NOT_READY"
        assert client.get("/api/health/live").status_code == 200
        assert client.get("/api/health").json()["status"] == "degraded"
    finally:
        services.engine = working


def test_metrics_in_prometheus_format(client: TestClient, photo_bytes: bytes) -> None:
    job_id = client.post("/api/analyze-image", files={"file": ("a.jpg", photo_bytes)}).json()[
        "job_id"
    ]
    wait_for(client, job_id)
    client.post("/api/analyze-image", files={"file": ("a.gif", b"GIF89a")})
    text = client.get("/api/metrics").text
    assert 'deepshield_jobs{state="COMPLETED"} 1.0' in text
    assert f"deepshield_upload_bytes_total {float(len(photo_bytes))}" in text
    assert 'deepshield_errors_total{error_code="UNSUPPORTED_EXTENSION"} 1.0' in text
    assert 'deepshield_stage_seconds_count{stage="inference"} 1.0' in text
    assert 'deepshield_analysis_seconds_count{kind="image"} 1.0' in text


def test_openapi_and_docs(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    for path in (
        "/api/analyze-image",
        "/api/analyze-video",
        "/api/results/{job_id}",
        "/api/results/{job_id}/events",
        "/api/artifacts/{job_id}/{name}",
        "/api/jobs/{job_id}",
        "/api/health",
        "/api/metrics",
    ):
        assert path in schema["paths"], path
    assert client.get("/api/docs").status_code == 200


def test_queue_full_answers_503_and_keeps_nothing(
    client: TestClient, photo_bytes: bytes, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]

    def refuse(job_id: str) -> None:
        raise QueueFull("full")

    monkeypatch.setattr(services.runner, "submit", refuse)
    response = client.post("/api/analyze-image", files={"file": ("a.jpg", photo_bytes)})
    assert response.status_code == 503 and response.headers["retry-after"] == "30"
    assert response.json()["error"]["error_code"] == "QUEUE_FULL"
    assert files_under(data_dir / "uploads") == [] and sum(services.job_counts().values()) == 0


def test_rate_limit_and_cors(data_dir: Path, shared_analyzer: Analyzer) -> None:
    settings = make_settings(
        data_dir, RATE_LIMIT_RPS=1, CORS_ALLOWED_ORIGINS="https://review.example"
    )
    with TestClient(create_app(settings, analyzer=shared_analyzer)) as client:
        statuses = [client.get("/api/results/" + "0" * 32).status_code for _ in range(5)]
        assert statuses[0] == 404 and 429 in statuses
        limited = client.get("/api/results/" + "0" * 32)
        assert (
            limited.json()["error"]["error_code"] == "RATE_LIMITED"
            and int(limited.headers["retry-after"]) >= 1
        )
        metrics = client.get("/api/metrics").text  # probes and metrics are exempt from the limit
        assert 'deepshield_errors_total{error_code="RATE_LIMITED"}' in metrics
        assert all(
            client.get("/api/health/live").status_code == 200 for _ in range(5)
        )  # probes exempt
        preflight = client.options(
            "/api/analyze-image",
            headers={"Origin": "https://review.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://review.example"
        other = client.get("/api/health/live", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_cleanup_removes_expired_jobs_and_stray_files(
    client: TestClient, photo_bytes: bytes, data_dir: Path
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    old = client.post("/api/analyze-image", files={"file": ("a.jpg", photo_bytes)}).json()["job_id"]
    fresh = client.post("/api/analyze-image", files={"file": ("b.jpg", photo_bytes)}).json()[
        "job_id"
    ]
    wait_for(client, old)
    wait_for(client, fresh)
    with session_scope(services.sessions) as session:
        session.execute(
            update(Job).where(Job.id == old).values(updated_at=utcnow() - timedelta(days=2))
        )
    stray = data_dir / "uploads" / "leftover.jpg"
    stray.write_bytes(b"x")
    past = time.time() - 3 * 86_400
    os.utime(stray, (past, past))
    assert cleanup.sweep(services) == 1
    assert client.get(f"/api/results/{old}").status_code == 404
    assert client.get(f"/api/results/{fresh}").json()["state"] == "COMPLETED"
    assert not (data_dir / "artifacts" / old).exists() and not stray.exists()
    assert len(files_under(data_dir / "uploads")) == 1  # the fresh job's upload stays
