"""benchmarks/ship_guard.py: the robustness guard that can stop a validation winner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from shared_data import split_config  # noqa: E402
from ship_guard import GuardFigures, guard_failures  # noqa: E402

SHIPPED = GuardFigures(jpeg_real_over_threshold=0.21, pseudo_video_ece=0.052)


@pytest.mark.parametrize(
    "candidate",
    [
        GuardFigures(0.17, 0.055),  # fewer false alarms, ECE within 0.01
        GuardFigures(0.26, 0.062),  # both rises exactly at their margins
        SHIPPED,
    ],
)
def test_candidates_within_the_margins_pass(candidate: GuardFigures) -> None:
    assert guard_failures(SHIPPED, candidate) == []


def test_more_false_alarms_on_compressed_faces_stop_a_candidate() -> None:
    # session 16's validation winner: 36.7% of real JPEG 70 crops over its threshold
    failures = guard_failures(SHIPPED, GuardFigures(0.367, 0.052))
    assert len(failures) == 1 and "JPEG 70: 36.7% against 21.0%" in failures[0]


def test_worse_video_calibration_stops_a_candidate() -> None:
    failures = guard_failures(SHIPPED, GuardFigures(0.21, 0.0621))
    assert len(failures) == 1 and failures[0].startswith("pseudo-video ECE: 0.062")


def test_every_failed_guard_is_named() -> None:
    assert len(guard_failures(SHIPPED, GuardFigures(0.367, 0.076))) == 2


def test_benchmarks_cache_crops_in_the_repository_runs_folder_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from benchmarks/ (or anywhere), the guard once wrote its crop cache to ./runs/lite0,
    outside the ignored /runs/; it now always uses the repository's, as training does."""
    monkeypatch.chdir(tmp_path)
    config = split_config(tmp_path / "faces")
    assert config.out_dir == Path(__file__).resolve().parents[2] / "runs/lite0"
