"""Kill `deepshield serve` (SIGKILL, a real subprocess) while a job runs; after a restart the
job completes on its second attempt. No job stays RUNNING forever."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fixtures.media_factory import write_video
from tests.fixtures.server import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


def job_row(data_dir: Path, job_id: str) -> tuple[str, int]:
    with sqlite3.connect(data_dir / "deepshield.sqlite3") as db:
        state, attempts = db.execute(
            "SELECT state, attempts FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    return state, attempts


def test_job_survives_a_killed_server(tmp_path: Path, astronaut: np.ndarray) -> None:
    frames = [np.roll(astronaut, 6 * i, axis=1) for i in range(64)]
    clip = write_video(tmp_path / "long.mp4", frames, fps=16)
    data_dir, port = tmp_path / "data", free_port()
    server = start_server(data_dir, port, VIDEO_MAX_FRAMES="32")
    base = f"http://127.0.0.1:{port}/api"
    try:
        with clip.open("rb") as handle:
            job_id = httpx.post(
                f"{base}/analyze-video", files={"file": ("long.mp4", handle)}, timeout=30
            ).json()["job_id"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/results/{job_id}", timeout=5).json()["state"] != "RUNNING":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.02)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        assert job_row(data_dir, job_id) == ("RUNNING", 1)  # left behind by the dead process
        server = start_server(data_dir, port, VIDEO_MAX_FRAMES="32")
        deadline = time.monotonic() + 90
        while (body := httpx.get(f"{base}/results/{job_id}", timeout=5).json())["state"] not in (
            "COMPLETED",
            "FAILED",
        ):
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
        assert body["state"] == "COMPLETED" and body["attempts"] == 2
        assert body["result"]["frames_sampled"] == 32
    finally:
        stop_server(server)
