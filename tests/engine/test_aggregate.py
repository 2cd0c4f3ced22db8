from __future__ import annotations

import numpy as np
import pytest

from deepshield.engine.aggregate import (
    AGGREGATION_METHODS,
    MIN_JUDGED_FACE_PX_COMPRESSED,
    MIN_JUDGED_FACE_PX_LOSSLESS,
    FrameScore,
    aggregate,
    label_for,
)

BOX = (0.0, 0.0, 200.0, 250.0)  # a face large enough to be judged in any media


def frames(
    person: int,
    scores: list[float],
    start: int = 0,
    box: tuple[float, float, float, float] = BOX,
) -> list[FrameScore]:
    return [FrameScore(start + i, (start + i) * 40.0, person, s, box) for i, s in enumerate(scores)]


def square(side: float) -> tuple[float, float, float, float]:
    return (10.0, 20.0, 10.0 + side, 20.0 + side * 1.3)  # short side: ``side``


def test_no_face_is_low_confidence_without_a_decision() -> None:
    verdict = aggregate([], frames_sampled=32, threshold=0.5)
    assert verdict.low_confidence and verdict.low_confidence_reason == "no_face_detected"
    assert verdict.final_score is None and verdict.predicted_manipulation is None
    assert verdict.confidence_label == "Inconclusive"


@pytest.mark.parametrize(
    ("sampled", "with_face", "low"),
    [(32, 7, True), (32, 8, False), (8, 1, True), (8, 2, False), (1, 1, False)],
)
def test_too_few_frames_with_face_scales_with_frames_sampled(
    sampled: int, with_face: int, low: bool
) -> None:
    verdict = aggregate(frames(0, [0.9] * with_face), frames_sampled=sampled, threshold=0.5)
    assert verdict.low_confidence is low
    assert verdict.final_score == pytest.approx(0.9)  # the score is still reported
    assert verdict.predicted_manipulation is (None if low else True)
    if low:
        assert verdict.low_confidence_reason == "too_few_frames_with_face"
        assert f"only {with_face} of {sampled}" in verdict.confidence_explanation


def test_most_suspicious_person_decides() -> None:
    scores = frames(0, [0.1] * 20) + frames(1, [0.8] * 10, start=20)
    verdict = aggregate(scores, frames_sampled=32, threshold=0.5)
    assert verdict.final_score == pytest.approx(0.8)
    assert verdict.predicted_manipulation is True
    assert [(p.person_id, p.frames, p.predicted_manipulation) for p in verdict.people] == [
        (0, 20, False),
        (1, 10, True),
    ]


def test_a_one_frame_false_detection_cannot_decide() -> None:
    scores = frames(0, [0.1] * 20) + frames(1, [0.99], start=5)
    verdict = aggregate(scores, frames_sampled=20, threshold=0.5)
    assert verdict.final_score == pytest.approx(0.1)
    assert verdict.predicted_manipulation is False


def test_robust_mean_resists_an_outlier_frame() -> None:
    scores = np.array([0.1] * 9 + [1.0])
    assert AGGREGATION_METHODS["trimmed_mean"](scores) == pytest.approx(0.1)
    assert AGGREGATION_METHODS["mean"](scores) == pytest.approx(0.19)
    assert AGGREGATION_METHODS["top_half_mean"](np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(
        0.85
    )


@pytest.mark.parametrize("threshold", [0.2, 0.35, 0.5, 0.65, 0.8])
def test_labels_agree_with_the_threshold(threshold: float) -> None:
    for score in (float(v) for v in np.linspace(0, 1, 101)):
        label, _ = label_for(score, threshold)
        says_manipulated = label in {"Signs of manipulation", "Strong signs of manipulation"}
        assert says_manipulated is (score >= threshold), (score, label)
        assert "authentic" not in label.lower() and "verified" not in label.lower()
        verdict = aggregate(frames(0, [score] * 4), frames_sampled=4, threshold=threshold)
        assert verdict.predicted_manipulation is (score >= threshold)
        assert verdict.confidence_label == label


@pytest.mark.parametrize("floor", [MIN_JUDGED_FACE_PX_LOSSLESS, MIN_JUDGED_FACE_PX_COMPRESSED])
@pytest.mark.parametrize("below", [0, 1])
def test_faces_too_small_to_judge_are_scored_but_decide_nothing(floor: int, below: int) -> None:
    side, judged = floor - below, below == 0
    verdict = aggregate(
        frames(0, [0.9] * 8, box=square(side)), frames_sampled=8, threshold=0.5, min_face_px=floor
    )
    assert verdict.final_score == pytest.approx(0.9)  # the score is still reported
    assert verdict.people[0].face_px == side
    assert verdict.low_confidence is not judged
    assert verdict.predicted_manipulation is (True if judged else None)
    assert verdict.people[0].predicted_manipulation is (True if judged else None)
    if not judged:
        assert verdict.low_confidence_reason == "faces_too_small"
        assert verdict.confidence_label == "Inconclusive"
        assert f"only {side} px across" in verdict.confidence_explanation


def test_a_small_face_cannot_outvote_a_judged_one() -> None:
    large = frames(0, [0.1] * 10)
    small = frames(1, [0.95] * 10, box=square(50))
    verdict = aggregate(large + small, frames_sampled=10, threshold=0.5)
    assert not verdict.low_confidence
    assert verdict.final_score == pytest.approx(0.1) and verdict.predicted_manipulation is False
    by_id = {p.person_id: p for p in verdict.people}
    assert by_id[1].score == pytest.approx(0.95) and by_id[1].predicted_manipulation is None
    assert (by_id[0].face_px, by_id[1].face_px) == (200, 50)


def test_face_size_is_the_median_over_the_persons_frames() -> None:
    # one large outlier box does not lift a small face over the line
    scores = frames(0, [0.8] * 4, box=square(60)) + frames(0, [0.8], start=4, box=square(300))
    verdict = aggregate(scores, frames_sampled=5, threshold=0.5)
    assert verdict.people[0].face_px == 60 and verdict.low_confidence_reason == "faces_too_small"


def test_compressed_media_need_larger_faces_by_default() -> None:
    scores = frames(0, [0.9] * 4, box=square(120))
    assert aggregate(scores, frames_sampled=4, threshold=0.5).low_confidence
    lossless = aggregate(
        scores, frames_sampled=4, threshold=0.5, min_face_px=MIN_JUDGED_FACE_PX_LOSSLESS
    )
    assert lossless.predicted_manipulation is True
