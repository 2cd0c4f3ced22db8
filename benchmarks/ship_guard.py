"""The robustness guard of the ship rule (benchmarks/RESULTS.md, session 16).

A candidate model that wins on validation may still not replace the shipped one if it raises
false alarms on compressed real faces or loses calibration on compressed video: session 16's
validation winner nearly doubled the real faces over its threshold on JPEG 70 crops (37% against
21%) and raised the pseudo-video ECE from 0.052 to 0.076. This measures both figures for the
shipped model and each candidate, on the test split, and says which guard stops a candidate:

- real faces at or over the threshold on test crops re-encoded at JPEG 70
  (`jpeg_robustness.py`): at most 5 points over the shipped model's;
- ECE of the pseudo-videos' per-person scores with the engine's aggregation
  (`aggregation.py`): at most 0.01 over the shipped model's.

The guard reads test faces, so it may stop a candidate but never choose one.

    python benchmarks/ship_guard.py --model CANDIDATE.onnx [...] [--data ../shared/data/faces]

Prints one JSON object; exits 1 when a guard stops any candidate.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from aggregation import FRAMES, SEED, pseudo_video_report
from jpeg_robustness import test_split_under_jpeg
from shared_data import DEFAULT_DATA, split_config

from deepshield.engine.aggregate import DEFAULT_METHOD
from deepshield.engine.classifier import FaceClassifier

JPEG_QUALITY = 70
MAX_FALSE_ALARM_RISE = 0.05
MAX_VIDEO_ECE_RISE = 0.01


@dataclass(frozen=True)
class GuardFigures:
    jpeg_real_over_threshold: float
    pseudo_video_ece: float


def guard_failures(shipped: GuardFigures, candidate: GuardFigures) -> list[str]:
    """What stops ``candidate`` from replacing ``shipped``; empty when it passes."""
    failures = []
    before, after = shipped.jpeg_real_over_threshold, candidate.jpeg_real_over_threshold
    # rises are rounded, so that one of exactly the margin (0.26 - 0.21 in floats) passes
    if round(after - before, 9) > MAX_FALSE_ALARM_RISE:
        failures.append(
            f"real faces over the threshold at JPEG {JPEG_QUALITY}: "
            f"{after:.1%} against {before:.1%}"
        )
    before, after = shipped.pseudo_video_ece, candidate.pseudo_video_ece
    if round(after - before, 9) > MAX_VIDEO_ECE_RISE:
        failures.append(f"pseudo-video ECE: {after:.3f} against {before:.3f}")
    return failures


def measure(classifier: FaceClassifier, data: Path) -> GuardFigures:
    config = split_config(data, input_size=classifier.input_size)
    rows = test_split_under_jpeg(config, classifier, [JPEG_QUALITY])  # as they are, then JPEG
    jpeg = next(row for row in rows if row["jpeg_quality"] == JPEG_QUALITY)
    video = pseudo_video_report(classifier, config, FRAMES, SEED)
    methods = video["methods"]
    assert isinstance(methods, dict)
    return GuardFigures(
        jpeg_real_over_threshold=float(jpeg["real_over_threshold"]),  # type: ignore[arg-type]
        pseudo_video_ece=float(methods[DEFAULT_METHOD]["ece"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, nargs="+", required=True, help="candidate models")
    args = parser.parse_args()
    shipped_classifier = FaceClassifier()
    shipped = measure(shipped_classifier, args.data)
    report: dict[str, object] = {
        "shipped": {"model_version": shipped_classifier.card.model_version, **asdict(shipped)}
    }
    stopped = False
    candidates = []
    for path in args.model:
        classifier = FaceClassifier(path)
        figures = measure(classifier, args.data)
        failures = guard_failures(shipped, figures)
        stopped |= bool(failures)
        candidates.append(
            {
                "model_version": classifier.card.model_version,
                **asdict(figures),
                "passes": not failures,
                "stopped_by": failures,
            }
        )
    report["candidates"] = candidates
    print(json.dumps(report, indent=2))
    sys.exit(1 if stopped else 0)


if __name__ == "__main__":
    main()
