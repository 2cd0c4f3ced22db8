"""The same service on a real PostgreSQL (127.0.0.1:5432 here and in CI; set
DEEPSHIELD_TEST_POSTGRES_URL elsewhere). Each test gets a fresh database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient

from deepshield.db.migrate import upgrade
from deepshield.db.models import Base
from deepshield.db.session import make_engine
from deepshield.engine.analyze import Analyzer
from deepshield.service.app import create_app
from tests.service.conftest import wait_for
from tests.service.test_accounts import auth_settings, bearer, register

pytestmark = pytest.mark.postgres


def test_migrations_match_models_on_postgres(pg_url: str) -> None:
    engine = make_engine(pg_url)
    upgrade(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_quota_holds_under_concurrent_uploads_on_postgres(
    pg_url: str, tmp_path: Path, shared_analyzer: Analyzer, photo_bytes: bytes
) -> None:
    settings = auth_settings(tmp_path / "data", DATABASE_URL=pg_url, SAAS_FREE_DAILY_UPLOADS=20)
    with TestClient(create_app(settings, analyzer=shared_analyzer)) as client:
        token = register(client, "pg@example.org")["access_token"]
        client.cookies.clear()

        def upload(i: int) -> int:
            response = client.post(
                "/api/analyze-image",
                files={"file": (f"{i}.jpg", photo_bytes)},
                headers=bearer(token),
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=25) as pool:
            statuses = list(pool.map(upload, range(25)))
        assert sorted(statuses) == [202] * 20 + [429] * 5
        assert len(client.get("/api/jobs/me?limit=100", headers=bearer(token)).json()) == 20
        client.headers.update(bearer(token))
        first = client.get("/api/jobs/me?limit=1").json()[0]["job_id"]
        assert wait_for(client, first, timeout=120)["state"] == "COMPLETED"
