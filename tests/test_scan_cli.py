from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from deepshield.cli import app
from tests.fixtures.media_factory import (
    with_half_size_copy,
    write_bytes,
    write_image,
    write_video,
)

runner = CliRunner()


def test_scan_folder_json_with_one_failure(tmp_path: Path, astronaut: np.ndarray) -> None:
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    write_image(folder / "photo.jpg", astronaut, quality=90)
    write_video(folder / "nested" / "clip.mp4", [astronaut] * 12, fps=6)
    write_bytes(folder / "broken.png", "not a png")
    write_bytes(folder / "notes.txt", "ignored: not a media suffix")
    result = runner.invoke(
        app, ["scan", str(folder), "--json", "--out", str(tmp_path / "out"), "--sample", "4"]
    )
    assert result.exit_code == 1  # one input failed, the others were still analysed
    results = json.loads(result.stdout)
    by_name = {Path(r["input"]).name: r for r in results}
    assert set(by_name) == {"photo.jpg", "clip.mp4", "broken.png"}
    assert by_name["broken.png"]["error"]["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert by_name["clip.mp4"]["frames_sampled"] == 4
    for name in ("photo.jpg", "clip.mp4"):
        top = by_name[name]["top_k_suspicious"]
        assert (
            top and (Path(by_name[name]["artifacts_dir"]) / top[0]["heatmap_overlay_url"]).is_file()
        )


def test_scan_table_and_exit_0(tmp_path: Path, astronaut: np.ndarray) -> None:
    path = write_image(tmp_path / "photo.png", astronaut)
    result = runner.invoke(app, ["scan", str(path), "--top-k", "0"])
    assert result.exit_code == 0, result.output
    assert "photo.png" in result.stdout and "threshold" in result.stdout


def test_scan_table_shows_the_warnings(tmp_path: Path, astronaut: np.ndarray) -> None:
    _, both_faces = with_half_size_copy(astronaut)
    path = write_image(tmp_path / "two.png", both_faces)
    result = runner.invoke(app, ["scan", str(path), "--top-k", "0"])
    assert result.exit_code == 0, result.output
    assert "two.png: faces under 80 px for 1 of 2 people" in result.stdout


def test_scan_usage_errors_exit_2(tmp_path: Path) -> None:
    assert runner.invoke(app, ["scan", str(tmp_path / "missing.jpg")]).exit_code == 2
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["scan", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no images or videos" in result.stderr
    assert runner.invoke(app, ["scan"]).exit_code == 2


def test_invalid_configuration_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray
) -> None:
    from deepshield.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setenv("VIDEO_MAX_FRAMES", "many")
    monkeypatch.setenv("INFER_FAKE_DECISION_THRESHOLD", "1.5")
    try:
        result = runner.invoke(app, ["scan", str(write_image(tmp_path / "a.png", astronaut))])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "invalid configuration" in result.stderr
    assert "VIDEO_MAX_FRAMES" in result.stderr and "INFER_FAKE_DECISION_THRESHOLD" in result.stderr
