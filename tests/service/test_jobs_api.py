"""Image and video jobs through HTTP, from upload to result, heatmap, events and deletion."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from tests.service.conftest import files_under, wait_for


def test_image_job_runs_to_completed_with_full_result(
    client: TestClient, photo_bytes: bytes
) -> None:
    response = client.post(
        "/api/analyze-image", files={"file": ("portrait.jpg", photo_bytes, "image/jpeg")}
    )
    assert response.status_code == 202
    accepted = response.json()
    assert (
        accepted["state"] == "QUEUED"
        and accepted["status_url"] == f"/api/results/{accepted['job_id']}"
    )
    body = wait_for(client, accepted["job_id"])
    assert body["state"] == "COMPLETED" and body["progress"] == 100.0 and body["attempts"] == 1
    result = body["result"]
    for field in (
        "final_score",
        "decision_threshold",
        "predicted_manipulation",
        "confidence_label",
        "frames_sampled",
        "frames_with_face",
        "per_frame",
        "people",
        "top_k_suspicious",
        "model_version",
        "pipeline_version",
        "processing_ms",
        "warnings",
        "media",
    ):
        assert field in result
    assert body["file_name"] == "portrait.jpg" and result["media"]["kind"] == "image"
    heatmap = client.get(result["top_k_suspicious"][0]["heatmap_overlay_url"])
    assert heatmap.status_code == 200 and heatmap.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert heatmap.headers["content-type"] == "image/png"
    report = client.get(result["report_url"])
    assert (
        report.status_code == 200
        and json.loads(report.content)["final_score"] == result["final_score"]
    )


def test_video_job_runs_to_completed(client: TestClient, video_bytes: bytes) -> None:
    response = client.post(
        "/api/analyze-video", files={"file": ("clip.mp4", video_bytes, "video/mp4")}
    )
    assert response.status_code == 202
    body = wait_for(client, response.json()["job_id"])
    assert body["state"] == "COMPLETED", body
    result = body["result"]
    assert result["media"]["kind"] == "video" and result["frames_sampled"] == 20
    assert result["people"] and result["per_frame"]


def test_events_stream_progress_forward_then_end(client: TestClient, photo_bytes: bytes) -> None:
    job_id = client.post("/api/analyze-image", files={"file": ("a.jpg", photo_bytes)}).json()[
        "job_id"
    ]
    events: list[tuple[str, dict]] = []  # type: ignore[type-arg]
    with client.stream("GET", f"/api/results/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event:
                events.append((event, json.loads(line.split(":", 1)[1])))
                if event == "end":
                    break
    assert events[-1][0] == "end" and events[-1][1]["state"] == "COMPLETED"
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress == sorted(progress) and progress[-1] == 100.0


def test_unknown_job_answers_404_in_the_envelope(client: TestClient) -> None:
    for url in (
        "/api/results/0123456789abcdef0123456789abcdef",
        "/api/results/not-a-job",
        "/api/results/0123456789abcdef0123456789abcdef/events",
        "/api/artifacts/0123456789abcdef0123456789abcdef/x.png",
    ):
        response = client.get(url, headers={"X-Request-ID": "test-request-0001"})
        assert response.status_code == 404
        assert response.json() == {
            "request_id": "test-request-0001",
            "error": {"error_code": "JOB_NOT_FOUND", "message": "no such job"},
        }
        assert response.headers["x-request-id"] == "test-request-0001"


def test_artifact_names_cannot_escape(
    client: TestClient, photo_bytes: bytes, data_dir: Path
) -> None:
    job_id = client.post("/api/analyze-image", files={"file": ("a.jpg", photo_bytes)}).json()[
        "job_id"
    ]
    wait_for(client, job_id)
    (data_dir / "secret.png").write_bytes(b"secret")
    for name in (
        "..%2F..%2Fsecret.png",
        "..%2Fsecret.png",
        "%2e%2e",
        "report.txt",
        ".hidden.png",
        "nope.png",
    ):
        response = client.get(f"/api/artifacts/{job_id}/{name}")
        assert response.status_code == 404, name
        assert b"secret" not in response.content


def test_delete_removes_job_and_files(
    client: TestClient, photo_bytes: bytes, data_dir: Path
) -> None:
    job_id = client.post("/api/analyze-image", files={"file": ("a.jpg", photo_bytes)}).json()[
        "job_id"
    ]
    wait_for(client, job_id)
    assert files_under(data_dir / "uploads") and files_under(data_dir / "artifacts" / job_id)
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert client.get(f"/api/results/{job_id}").status_code == 404
    assert (
        files_under(data_dir / "uploads") == [] and not (data_dir / "artifacts" / job_id).exists()
    )
    assert client.delete(f"/api/jobs/{job_id}").status_code == 404
