"""Pixels once JPEG-compressed are told from pixels that never were, wherever the grid lies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from deepshield.engine.jpeg_traces import (
    GRID_SHARE_THRESHOLD,
    block_grid_share,
    has_jpeg_traces,
)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])


def test_a_photo_that_never_was_jpeg_has_no_grid(astronaut: np.ndarray) -> None:
    assert block_grid_share(astronaut) < GRID_SHARE_THRESHOLD / 2
    assert not has_jpeg_traces(astronaut)


def test_the_grid_of_a_jpeg_round_trip_is_found_where_ever_it_lies(astronaut: np.ndarray) -> None:
    for quality in (50, 70, 80):
        once = jpeg(astronaut, quality)
        assert has_jpeg_traces(once), quality
        assert has_jpeg_traces(once[3:, 5:]), quality  # cropped: the grid moved
        assert has_jpeg_traces(np.rot90(once)), quality  # turned, as EXIF orientation does


def test_resampling_after_jpeg_erases_the_grid(astronaut: np.ndarray) -> None:
    once = jpeg(astronaut, 70)
    resampled = cv2.resize(once, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    assert not has_jpeg_traces(resampled)


def test_too_little_to_vote_on_counts_as_no_grid(astronaut: np.ndarray) -> None:
    assert block_grid_share(jpeg(astronaut, 50)[:40, :40]) == 0.0  # under 8 bands of 8 lines
    assert block_grid_share(np.full((256, 256, 3), 90, np.uint8)) == 0.0  # flat


def test_a_period_of_eight_in_one_direction_is_not_a_block_grid() -> None:
    columns = np.tile(np.array([0, 0, 0, 0, 0, 0, 0, 40], np.uint8), 32)  # stripes every 8 px
    stripes = np.repeat(np.broadcast_to(columns, (256, 256))[..., None], 3, axis=2)
    noise = np.random.default_rng(0).integers(0, 6, stripes.shape, dtype=np.uint8)
    assert not has_jpeg_traces(stripes + noise)


def test_the_benchmark_reports_each_kind_of_pixels(astronaut: np.ndarray, tmp_path: Path) -> None:
    for folder in ("real-ffhq", "fake-stylegan2"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "photo.jpg"), astronaut[..., ::-1])
    script = Path(__file__).parents[2] / "benchmarks/jpeg_traces.py"
    result = subprocess.run(
        [sys.executable, str(script), "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = {
        line.split(" | ")[0].strip("| "): line.rsplit("|", 2)[1].strip()
        for line in result.stdout.splitlines()
        if line.startswith("| ") and "---" not in line
    }
    assert result.stdout.startswith("2 photos;")
    assert rows["resampled: no grid"] == "0.0%"
    assert rows["resampled, JPEG 70"] == "100.0%"
    assert rows["resampled, JPEG 70, cropped by (3, 5)"] == "100.0%"
