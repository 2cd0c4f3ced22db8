from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

REPO = Path(__file__).resolve().parents[1]
SHARED_FACES = Path(os.environ.get("DEEPSHIELD_SHARED_FACES", REPO.parent / "shared/data/faces"))


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """NASA's public-domain astronaut portrait (512x512 RGB) as shipped by scikit-image."""
    return np.ascontiguousarray(skdata.astronaut())


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    if not (SHARED_FACES / "real-ffhq").is_dir():
        pytest.skip(f"shared face data not found at {SHARED_FACES} (CI has it)")
    return SHARED_FACES


POSTGRES_ADMIN_URL = os.environ.get(
    "DEEPSHIELD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("DEEPSHIELD_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL (127.0.0.1:5432 here and in CI; set
    DEEPSHIELD_TEST_POSTGRES_URL elsewhere), dropped afterwards."""
    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need the [postgres] extra")
    name = f"deepshield_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield (
                POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace(
                    "postgresql://", "postgresql+psycopg://"
                )
                + f"/{name}"
            )
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """An emptied database on the real Redis (127.0.0.1:6379 here and in CI; set
    DEEPSHIELD_TEST_REDIS_URL elsewhere), emptied again afterwards."""
    redis = pytest.importorskip("redis", reason="Redis tests need the [worker] extra")
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_TEST_URL}: {exc}")
    try:
        yield REDIS_TEST_URL
    finally:
        client.flushdb()
        client.close()
