"""The container files: docker-compose.yml is valid and wires the four services with health
checks and shared storage; the Dockerfile builds a slim, non-root image without torch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


def test_docker_compose_config_passes() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    done = subprocess.run(
        [*command, "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr


def test_compose_runs_api_worker_redis_postgres_with_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"api", "worker", "redis", "postgres"}
    assert all("healthcheck" in service for service in services.values())
    api, worker = services["api"], services["worker"]
    assert worker["command"][:2] == ["deepshield", "worker"]
    # API and workers share uploads and artifacts, and the same broker and database
    assert "deepshield-data:/data" in api["volumes"] and api["volumes"] == worker["volumes"]
    assert api["environment"]["CELERY_BROKER_URL"] == worker["environment"]["CELERY_BROKER_URL"]
    assert api["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["depends_on"]["api"]["condition"] == "service_healthy"
    assert {"deepshield-data", "redis-data", "postgres-data"} <= set(compose["volumes"])


def test_dockerfile_is_slim_non_root_and_torch_free() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert stages and all(image.endswith("-slim") for image in stages)
    user_lines = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1] not in ("root", "0")
    install = next(line for line in dockerfile.splitlines() if 'pip install ".' in line)
    assert "train" not in install and "dev" not in install
    assert '! /opt/deepshield/bin/python -c "import torch"' in dockerfile  # the build checks


def test_worker_app_module_serves_celerys_command_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from deepshield.jobs.worker_app import app; print(sorted(app.tasks))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13"},
    )
    assert done.returncode == 0, done.stderr
    assert "deepshield.run_job" in done.stdout
