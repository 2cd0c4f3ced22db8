"""The default install (`pip install .`, no extras) must serve: the optional packages are
hidden from a fresh interpreter, which then runs the app and a job in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OPTIONAL = ["celery", "kombu", "billiard", "amqp", "redis", "psycopg", "torch", "sklearn"]

SCRIPT = """
import sys, time
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {optional!r}:
            raise ImportError(f"{{name}} is not installed (hidden by the test)")
sys.meta_path.insert(0, Hide())
from fastapi.testclient import TestClient
from deepshield.config import Settings
from deepshield.service.app import create_app
settings = Settings(STORAGE_DATA_DIR=sys.argv[1], LOG_LEVEL="WARNING")
with TestClient(create_app(settings)) as client:
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["checks"] == {{"database": "ok"}}, health
    assert client.get("/api/health/ready").status_code == 200
    with open(sys.argv[2], "rb") as photo:
        job = client.post("/api/analyze-image", files={{"file": ("a.jpg", photo)}}).json()
    for _ in range(300):
        state = client.get(job["status_url"]).json()["state"]
        if state in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.1)
    assert state == "COMPLETED", state
    assert not any(name.split(".")[0] in {optional!r} for name in sys.modules)
print("ok")
"""


def test_the_default_install_serves_without_any_extra(tmp_path: Path, photo_bytes: bytes) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(photo_bytes)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(optional=OPTIONAL), str(tmp_path / "d"), str(photo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
