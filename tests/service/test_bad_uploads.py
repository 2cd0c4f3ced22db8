"""Every bad upload answers a 4xx with a stable code and leaves neither a file nor a job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.fixtures.media_factory import truncate, write_audio_only_mp4, write_png_bomb, write_video
from tests.service.conftest import files_under

LIMIT_MB = 5  # make_settings


def assert_nothing_stored(client: TestClient, data_dir: Path) -> None:
    assert files_under(data_dir / "uploads") == []
    assert sum(client.app.state.services.job_counts().values()) == 0  # type: ignore[attr-defined]


def multipart_stream(
    filename: str, size: int, boundary: str = "deepshieldboundary"
) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    yield b"\xff\xd8\xff\xe0"
    chunk = b"\0" * (256 * 1024)
    for _ in range(size // len(chunk)):
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def test_oversize_chunked_upload_without_content_length(client: TestClient, data_dir: Path) -> None:
    response = client.post(
        "/api/analyze-image",
        content=multipart_stream("big.jpg", (LIMIT_MB + 2) * 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=deepshieldboundary"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["error_code"] == "FILE_TOO_LARGE"
    assert_nothing_stored(client, data_dir)
    assert (
        'deepshield_errors_total{error_code="FILE_TOO_LARGE"} 1.0'
        in client.get("/api/metrics").text
    )


def test_oversize_upload_with_content_length(client: TestClient, data_dir: Path) -> None:
    big = b"\xff\xd8\xff\xe0" + b"\0" * ((LIMIT_MB + 1) * 1024 * 1024)
    response = client.post("/api/analyze-image", files={"file": ("big.jpg", big, "image/jpeg")})
    assert response.status_code == 413
    assert response.json()["error"]["error_code"] == "FILE_TOO_LARGE"
    assert_nothing_stored(client, data_dir)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("bad")
    clip = write_video(folder / "ok.mp4", [astronaut[:128, :128]] * 30, fps=10)
    return {
        "text": b"this is only text pretending to be a picture\n",
        "bomb": write_png_bomb(folder / "bomb.png").read_bytes(),
        "truncated": truncate(clip, folder / "cut.mp4", 0.3).read_bytes(),
        "audio": write_audio_only_mp4(folder / "audio.mp4").read_bytes(),
        "long": write_video(folder / "long.mp4", [astronaut[:64, :64]] * 250, fps=10).read_bytes(),
        "video": clip.read_bytes(),
        "playlist": b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n",
    }


@pytest.mark.parametrize(
    ("route", "filename", "content", "status", "code"),
    [
        ("image", "photo.gif", "text", 415, "UNSUPPORTED_EXTENSION"),
        ("image", "noextension", "text", 415, "UNSUPPORTED_EXTENSION"),
        ("image", "photo.jpg", "text", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("image", "photo.jpg", "video", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("image", "bomb.png", "bomb", 422, "IMAGE_TOO_LARGE"),
        ("image", "empty.jpg", "", 400, "EMPTY_FILE"),
        ("video", "clip.mp4", "truncated", 422, "CORRUPT_VIDEO"),
        ("video", "clip.mp4", "audio", 422, "NO_VIDEO_STREAM"),
        ("video", "clip.mp4", "long", 422, "VIDEO_TOO_LONG"),
        ("video", "clip.mp4", "playlist", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("video", "../../etc/clip.exe", "video", 415, "UNSUPPORTED_EXTENSION"),
    ],
)
def test_bad_upload_is_refused_and_nothing_is_kept(
    client: TestClient,
    data_dir: Path,
    bad_files: dict[str, bytes],
    route: str,
    filename: str,
    content: str,
    status: int,
    code: str,
) -> None:
    payload = bad_files.get(content, b"")
    response = client.post(
        f"/api/analyze-{route}", files={"file": (filename, payload, "application/octet-stream")}
    )
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["error_code"] == code and body["error"]["message"]
    assert not any(
        len(word) >= 32 and word[:32].isalnum() for word in body["error"]["message"].split()
    )  # no stored name
    assert body["request_id"] == response.headers["x-request-id"]
    assert_nothing_stored(client, data_dir)


def test_missing_file_field(client: TestClient, data_dir: Path) -> None:
    response = client.post("/api/analyze-image", data={"other": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["error_code"] == "MISSING_FILE"
    assert_nothing_stored(client, data_dir)


def test_path_in_filename_is_reduced_to_a_display_name(
    client: TestClient, data_dir: Path, bad_files: dict[str, bytes], photo_bytes: bytes
) -> None:
    response = client.post(
        "/api/analyze-image", files={"file": ("../../../etc/passwd.jpg", photo_bytes)}
    )
    assert response.status_code == 202
    job = client.get(response.json()["status_url"]).json()
    assert job["file_name"] == "passwd.jpg"
    stored = files_under(data_dir / "uploads")
    assert (
        len(stored) == 1 and stored[0].parent == data_dir / "uploads" and len(stored[0].stem) == 32
    )
