"""The committed bad-input corpus (tests/fixtures/bad_inputs) against a real `deepshield serve`:
every file answers its 4xx and error code, none leaves a file or a job behind, and the server
is still healthy and working afterwards."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.server import free_port, start_server, stop_server
from tests.service.conftest import files_under

CORPUS = Path(__file__).parents[1] / "fixtures" / "bad_inputs"
CASES: list[dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text())
pytestmark = pytest.mark.slow


def multipart(filename: str, data: bytes, header_padding: int = 0) -> tuple[bytes, str]:
    """Built by hand so that the corpus can send what no well-behaved client would."""
    boundary = f"corpus{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n"
    )
    if header_padding:
        head += f"X-Padding: {'a' * header_padding}\r\n"
    body = head.encode() + b"\r\n" + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    data_dir, port = tmp_path_factory.mktemp("corpus") / "data", free_port()
    process = start_server(data_dir, port, FILE_MAX_UPLOAD_MB="5", VIDEO_MAX_DURATION_SECONDS="20")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        yield client, data_dir
    stop_server(process)


def test_the_corpus_is_big_enough() -> None:
    files = {case["file"] for case in CASES}
    assert len(files) >= 25 and all((CORPUS / name).is_file() for name in files)


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c['file']}->{c.get('upload_as', '')[:40]}" for c in CASES]
)
def test_bad_input_gets_its_4xx_and_code(
    server: tuple[httpx.Client, Path], case: dict[str, Any]
) -> None:
    client, data_dir = server
    data = (CORPUS / case["file"]).read_bytes()
    if "pad_to_mb" in case:
        data += b"\0" * (case["pad_to_mb"] * 1024 * 1024)
    body, content_type = multipart(
        case.get("upload_as", case["file"]), data, case.get("header_padding", 0)
    )
    response = client.post(
        f"/api/analyze-{case['route']}", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == case["status"], response.text
    error = response.json()["error"]
    assert error["error_code"] == case["code"] and error["message"]
    assert str(data_dir) not in error["message"] and "/uploads/" not in error["message"]
    assert files_under(data_dir / "uploads") == []


def test_server_is_healthy_and_clean_after_the_corpus(
    server: tuple[httpx.Client, Path], photo_bytes: bytes
) -> None:
    client, data_dir = server
    assert client.get("/api/health/ready").status_code == 200
    with sqlite3.connect(data_dir / "deepshield.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
    assert files_under(data_dir / "uploads") == [] and files_under(data_dir / "artifacts") == []
    metrics = client.get("/api/metrics").text
    assert 'deepshield_errors_total{error_code="INTERNAL_ERROR"}' not in metrics
    accepted = client.post("/api/analyze-image", files={"file": ("ok.jpg", photo_bytes)})
    assert accepted.status_code == 202
