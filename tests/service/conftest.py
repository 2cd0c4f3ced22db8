from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from deepshield.config import Settings
from deepshield.engine.analyze import Analyzer
from deepshield.service.app import create_app
from tests.fixtures.deployment import Deployment
from tests.fixtures.media_factory import write_image, write_video
from tests.fixtures.processes import PostgresCluster, RedisServer


@pytest.fixture(scope="session")
def shared_analyzer() -> Analyzer:
    """Loaded once: every app in the tests reuses the same detector and classifier."""
    return Analyzer(Settings())


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "STORAGE_DATA_DIR": str(data_dir),
        "FILE_MAX_UPLOAD_MB": 5,
        "VIDEO_MAX_DURATION_SECONDS": 20,
        "LOG_LEVEL": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(data_dir: Path, shared_analyzer: Analyzer) -> Iterator[TestClient]:
    app = create_app(make_settings(data_dir), analyzer=shared_analyzer)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def photo_bytes(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> bytes:
    return write_image(
        tmp_path_factory.mktemp("m") / "photo.jpg", astronaut, quality=90
    ).read_bytes()


@pytest.fixture(scope="session")
def video_bytes(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> bytes:
    frames = [np.roll(astronaut, 4 * i, axis=1)[:480, :480] for i in range(20)]
    return write_video(tmp_path_factory.mktemp("m") / "clip.mp4", frames, fps=10).read_bytes()


def wait_for(
    client: TestClient,
    job_id: str,
    states: tuple[str, ...] = ("COMPLETED", "FAILED"),
    timeout: float = 60,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/results/{job_id}").json()
        if body["state"] in states:
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not reach {states} in {timeout} s")


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


Deploy = Callable[..., Deployment]  # deploy(database_url, broker_url, **env) -> Deployment


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Deploy]:
    """Starts API + worker deployments for a test and stops them all afterwards. Request it
    after ``private_redis`` / ``private_postgres`` so it is torn down before them."""
    started: list[Deployment] = []

    def start(database_url: str, broker_url: str, **env: str) -> Deployment:
        started.append(Deployment(tmp_path, database_url, broker_url, **env))
        return started[-1]

    yield start
    for deployment in started:
        deployment.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, started; the test may stop and start it."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this test's own, started; the test may stop and start it."""
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.remove()
