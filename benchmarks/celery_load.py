"""Load test of the scaled-out setup (loopback only, bounded in count and time): N image jobs
through a real `deepshield serve` and W `deepshield worker` processes over Redis, state in a
fresh PostgreSQL database. Checks that every job COMPLETED exactly once (one attempt, one
result row, one successful task run) and prints throughput and latency percentiles.

    python benchmarks/celery_load.py [--jobs 200] [--workers 2] [--json]

Needs PostgreSQL (DEEPSHIELD_TEST_POSTGRES_URL, default 127.0.0.1:5432) and Redis
(DEEPSHIELD_TEST_REDIS_URL, default redis://127.0.0.1:6379/13, emptied before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from make_clips import make_photo  # noqa: E402
from tests.fixtures.processes import Worker  # noqa: E402
from tests.fixtures.server import free_port, start_server, stop_server  # noqa: E402

ADMIN_URL = os.environ.get(
    "DEEPSHIELD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BROKER_URL = os.environ.get("DEEPSHIELD_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q * len(ordered)) - 1)]


def run_load(jobs: int, workers: int, upload_threads: int, timeout_s: float) -> dict[str, Any]:
    database = f"deepshield_load_{uuid.uuid4().hex[:10]}"
    database_url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()
    photo = make_photo().read_bytes()
    with (
        psycopg.connect(ADMIN_URL, autocommit=True) as admin,
        tempfile.TemporaryDirectory() as tmp,
    ):
        admin.execute(f'CREATE DATABASE "{database}"')
        env = {
            "DATABASE_URL": f"{database_url}/{database}",
            "CELERY_BROKER_URL": BROKER_URL,
            "STORAGE_DATA_DIR": str(Path(tmp) / "data"),
            "INFER_THREADS": "1",  # W single-threaded workers share the cores
            "LOG_LEVEL": "WARNING",
        }
        server, pool = None, []
        try:
            port = free_port()
            server = start_server(Path(tmp) / "data", port, **env)
            pool.extend(Worker(f"load{i}", Path(tmp) / "logs", env) for i in range(workers))
            report = _drive(f"http://127.0.0.1:{port}", photo, jobs, upload_threads, timeout_s)
            with psycopg.connect(ADMIN_URL.rsplit("/", 1)[0] + f"/{database}") as db:
                report["result_rows"] = db.execute("SELECT count(*) FROM results").fetchone()[0]
                report["max_attempts"] = db.execute("SELECT max(attempts) FROM jobs").fetchone()[0]
            runs = [w.log().count("succeeded in") for w in pool]
            report["task_runs_per_worker"] = runs
            report["completed_task_runs"] = sum(w.log().count(": 'COMPLETED'") for w in pool)
        finally:
            for worker in pool:
                worker.stop()
            if server is not None:
                stop_server(server)
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            broker.flushdb()
    return report


def _drive(
    base: str, photo: bytes, jobs: int, upload_threads: int, timeout_s: float
) -> dict[str, Any]:
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=60) as client:

        def submit(i: int) -> tuple[float, int, str | None]:
            t0 = time.perf_counter()
            response = client.post("/api/analyze-image", files={"file": (f"p{i}.jpg", photo)})
            return time.perf_counter() - t0, response.status_code, response.json().get("job_id")

        with ThreadPoolExecutor(upload_threads) as threads:
            answers = list(threads.map(submit, range(jobs)))
        job_ids = [a[2] for a in answers if a[1] == 202 and a[2]]
        finished: dict[str, dict[str, Any]] = {}
        deadline = time.perf_counter() + timeout_s
        while len(finished) < len(job_ids) and time.perf_counter() < deadline:
            for job_id in job_ids:
                if job_id not in finished:
                    body = client.get(f"/api/results/{job_id}").json()
                    if body["state"] in ("COMPLETED", "FAILED"):
                        finished[job_id] = body
            time.sleep(0.2)
    wall = time.perf_counter() - started
    end_to_end = [
        (
            datetime.fromisoformat(b["finished_at"]) - datetime.fromisoformat(b["created_at"])
        ).total_seconds()
        for b in finished.values()
    ]
    states = [b["state"] for b in finished.values()]
    return {
        "jobs": jobs,
        "accepted": len(job_ids),
        "completed": states.count("COMPLETED"),
        "failed": states.count("FAILED"),
        "unfinished": len(job_ids) - len(finished),
        "wall_s": round(wall, 2),
        "throughput_jobs_per_s": round(len(finished) / wall, 2),
        "upload_p50_ms": round(1000 * statistics.median(a[0] for a in answers), 1),
        "upload_p95_ms": round(1000 * percentile([a[0] for a in answers], 0.95), 1),
        "end_to_end_p50_s": round(statistics.median(end_to_end), 2) if end_to_end else None,
        "end_to_end_p95_s": round(percentile(end_to_end, 0.95), 2) if end_to_end else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--upload-threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the jobs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    report = run_load(args.jobs, args.workers, args.upload_threads, args.timeout)
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
