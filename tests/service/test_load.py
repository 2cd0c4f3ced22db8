"""The load test of the scaled-out setup as a test: 200 image jobs through the API and two
Celery workers on PostgreSQL, each COMPLETED exactly once (benchmarks/celery_load.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("celery", reason="Celery tests need the [worker] extra")
pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]
SCRIPT = Path(__file__).parents[2] / "benchmarks" / "celery_load.py"


def test_200_jobs_on_two_workers_complete_exactly_once(pg_url: str, redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "200", "--workers", "2", "--timeout", "300"]
        + ["--json"],
        capture_output=True,
        text=True,
        timeout=420,
        env={**os.environ, "DEEPSHIELD_TEST_REDIS_URL": redis_url},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["accepted"] == report["completed"] == 200, report
    assert report["failed"] == report["unfinished"] == 0
    assert report["result_rows"] == 200 and report["max_attempts"] == 1
    assert report["completed_task_runs"] == 200  # no job ran twice
    assert all(runs > 0 for runs in report["task_runs_per_worker"])  # both workers took work
