"""Kill `deepshield serve` (SIGKILL, a real subprocess) while a job runs; after a restart the
job completes on its second attempt. No job stays RUNNING forever."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fixtures.media_factory import write_video

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STORAGE_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        "VIDEO_MAX_FRAMES": "32",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "deepshield", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health/live", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not start")


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
    server = start_server(data_dir, port)
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
        server = start_server(data_dir, port)
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
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
