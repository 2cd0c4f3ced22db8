"""Frame scores -> person scores -> one verdict per file.

* Person: a robust mean of that person's frame scores (``AGGREGATION_METHODS``; the default was
  chosen by ``benchmarks/aggregation.py``, see the README for the figures).
* Person verdicts only for faces of at least a minimum size on their short side (median over
  the person's frames): larger in compressed media (JPEG, video) than in lossless images;
  smaller faces are scored but not judged.
* File: the most suspicious person decides, among people seen often enough to be real faces
  rather than a one-frame false detection and large enough to be judged.
* Low confidence: no face at all, faces in fewer than a quarter of the sampled frames (at
  least one), or every face too small to judge. Then the decision is null: the tool says it
  cannot tell.
* Labels follow the threshold, so a score below it can never read as manipulated and a score
  above it never as clean; no label claims authenticity is proven.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

MIN_FACE_FRAME_SHARE = 0.25
MIN_PERSON_FRAME_SHARE = 0.2  # of the most-seen person's frames
# Smallest face (short side) given a verdict. Small faces are upsampled to the model's input
# and the model reads the blur, and far more so JPEG's blocks, as manipulation. Real test faces
# over the threshold (benchmarks/face_size.py), shipped model: 7% at their native ~280 px;
# lossless, 22% at 80 px, 40% at 60, 93% at 40; saved as JPEG 70, 17% at 160 px, 50% at 120,
# 92% at 80. (Set with the session-7 model: 12% native; lossless 27% at 80 px, 51% at 60; JPEG
# 70, 18% at 160 px, 64% at 120.)
MIN_JUDGED_FACE_PX_LOSSLESS = 80
MIN_JUDGED_FACE_PX_COMPRESSED = 160


def _trimmed_mean(scores: np.ndarray, cut: float = 0.2) -> float:
    ordered = np.sort(scores)
    k = int(len(ordered) * cut)
    return float(ordered[k : len(ordered) - k].mean())


def _top_half_mean(scores: np.ndarray) -> float:
    ordered = np.sort(scores)[::-1]
    return float(ordered[: max(1, math.ceil(len(ordered) / 2))].mean())


AGGREGATION_METHODS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda s: float(s.mean()),
    "median": lambda s: float(np.median(s)),
    "trimmed_mean": _trimmed_mean,
    "top_half_mean": _top_half_mean,
    "max": lambda s: float(s.max()),
}
DEFAULT_METHOD = "trimmed_mean"


@dataclass(frozen=True)
class FrameScore:
    frame_index: int
    timestamp_ms: float
    person_id: int
    p_fake: float
    face_bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class PersonScore:
    person_id: int
    score: float
    frames: int
    predicted_manipulation: bool | None  # None: not judged (too small, or too little evidence)
    face_px: int  # median short side of the person's face boxes, in pixels


@dataclass(frozen=True)
class Verdict:
    final_score: float | None
    decision_threshold: float
    predicted_manipulation: bool | None
    confidence_label: str
    confidence_explanation: str
    aggregation_method: str
    low_confidence: bool
    low_confidence_reason: str | None
    people: list[PersonScore]


def min_frames_with_face(frames_sampled: int) -> int:
    return max(1, math.ceil(MIN_FACE_FRAME_SHARE * frames_sampled))


def face_px(box: tuple[float, float, float, float]) -> float:
    x1, y1, x2, y2 = box
    return min(x2 - x1, y2 - y1)


def label_for(score: float, threshold: float) -> tuple[str, str]:
    """A plain label and sentence for a calibrated score, in bands split at the threshold."""
    percent = f"{score:.0%}"
    if score >= threshold + (1 - threshold) / 2:
        return "Strong signs of manipulation", (
            f"The face scores {percent}, well above the decision threshold of {threshold:.0%}."
        )
    if score >= threshold:
        return "Signs of manipulation", (
            f"The face scores {percent}, above the decision threshold of {threshold:.0%}."
        )
    if score >= threshold / 2:
        return "No clear signs of manipulation", (
            f"The face scores {percent}, below the decision threshold of {threshold:.0%}, "
            "but not by much; review the heatmaps."
        )
    return "No signs of manipulation found", (
        f"The face scores {percent}, well below the decision threshold of {threshold:.0%}. "
        "This is not proof of authenticity."
    )


def aggregate(
    frame_scores: Sequence[FrameScore],
    *,
    frames_sampled: int,
    threshold: float,
    method: str = DEFAULT_METHOD,
    min_face_px: int = MIN_JUDGED_FACE_PX_COMPRESSED,
) -> Verdict:
    """``min_face_px``: the smallest face given a verdict, ``MIN_JUDGED_FACE_PX_LOSSLESS`` for
    PNG-like images, ``MIN_JUDGED_FACE_PX_COMPRESSED`` (the default) for JPEG and video."""
    robust = AGGREGATION_METHODS[method]
    by_person: dict[int, list[FrameScore]] = {}
    frames_with_face = len({s.frame_index for s in frame_scores})
    for score in frame_scores:
        by_person.setdefault(score.person_id, []).append(score)

    def decide(value: float) -> bool:
        return value >= threshold

    def inconclusive(
        final: float | None, reason: str, explanation: str, people: list[PersonScore]
    ) -> Verdict:
        """Low confidence: the score (if any) is reported, no decision is made."""
        return Verdict(
            final_score=final,
            decision_threshold=threshold,
            predicted_manipulation=None,
            confidence_label="Inconclusive",
            confidence_explanation=explanation,
            aggregation_method=method,
            low_confidence=True,
            low_confidence_reason=reason,
            people=people,
        )

    people = []
    for pid, seen in sorted(by_person.items()):
        value = robust(np.array([s.p_fake for s in seen]))
        size = round(float(np.median([face_px(s.face_bbox) for s in seen])))
        verdict = decide(value) if size >= min_face_px else None
        people.append(PersonScore(pid, value, len(seen), verdict, size))
    if not people:
        return inconclusive(
            None, "no_face_detected", "No face was found, so there is nothing to score.", []
        )
    most_seen = max(p.frames for p in people)
    eligible = [p for p in people if p.frames >= MIN_PERSON_FRAME_SHARE * most_seen]
    judged = [p for p in eligible if p.predicted_manipulation is not None]
    final = max(judged or eligible, key=lambda p: p.score).score
    needed = min_frames_with_face(frames_sampled)
    if frames_with_face < needed:
        return inconclusive(
            final,
            "too_few_frames_with_face",
            f"A face was found in only {frames_with_face} of {frames_sampled} sampled frames "
            f"(at least {needed} needed); the score of {final:.0%} rests on too little evidence.",
            [replace(p, predicted_manipulation=None) for p in people],
        )
    if not judged:
        largest = max(p.face_px for p in eligible)
        return inconclusive(
            final,
            "faces_too_small",
            f"The largest face is only {largest} px across (at least {min_face_px} needed); "
            f"real faces this small often score as manipulated, so the score of {final:.0%} "
            "cannot be judged.",
            people,
        )
    label, explanation = label_for(final, threshold)
    return Verdict(
        final_score=final,
        decision_threshold=threshold,
        predicted_manipulation=decide(final),
        confidence_label=label,
        confidence_explanation=explanation,
        aggregation_method=method,
        low_confidence=False,
        low_confidence_reason=None,
        people=people,
    )
