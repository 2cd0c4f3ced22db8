"""With CELERY_BROKER_URL pointing at a port where nothing listens (a real refused connection,
no mock): uploads answer 503 QUEUE_UNAVAILABLE and leave no file, no job and no used quota;
health and readiness say the broker is down; everything else keeps working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deepshield.engine.analyze import Analyzer
from deepshield.service.app import create_app
from tests.fixtures.server import free_port
from tests.service.conftest import files_under
from tests.service.test_accounts import auth_settings, bearer, register

pytest.importorskip("celery", reason="the Celery runner needs the [worker] extra")


@pytest.fixture
def client(data_dir: Path, shared_analyzer: Analyzer) -> Iterator[TestClient]:
    settings = auth_settings(
        data_dir,
        CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0",
        REQUIRE_REDIS_FOR_READY=True,
        SAAS_FREE_DAILY_UPLOADS=1,
    )
    with TestClient(create_app(settings, analyzer=shared_analyzer)) as test_client:
        yield test_client


def test_uploads_are_refused_whole_while_the_broker_is_down(
    client: TestClient, data_dir: Path, photo_bytes: bytes
) -> None:
    token = register(client, "q@example.org")["access_token"]
    for _ in range(2):  # the quota is 1: a refused upload must not use it up
        response = client.post(
            "/api/analyze-image", files={"file": ("a.jpg", photo_bytes)}, headers=bearer(token)
        )
        assert response.status_code == 503, response.text
        assert response.json()["error"]["error_code"] == "QUEUE_UNAVAILABLE"
        assert response.headers["retry-after"] == "30"
    assert files_under(data_dir / "uploads") == []
    assert client.get("/api/jobs/me", headers=bearer(token)).json() == []
    assert client.get("/api/auth/me", headers=bearer(token)).json()["uploads_today"] == 0

    health = client.get("/api/health").json()
    assert health["status"] == "degraded" and health["runner"] == "celery"
    assert health["checks"] == {"database": "ok", "broker": "unreachable"}
    ready = client.get("/api/health/ready")
    assert ready.status_code == 503 and "broker" in ready.json()["error"]["message"]
    assert client.get("/api/health/live").status_code == 200
