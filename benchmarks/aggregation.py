"""Choose the per-person aggregation by measurement, not taste.

Builds pseudo-videos from the TEST split of the shared faces: each real face, its self-blended
fake (one blend per video, as a face swap is consistent over time) and each StyleGAN2 face
become K frames that differ by camera-like jitter (shift, scale, brightness, JPEG quality).
Every frame is scored by the shipped classifier (or ``--model``); each aggregation method
turns a video's frame scores into one score. Reports video-level ROC AUC, accuracy at the model
card's threshold and ECE per method.

    python benchmarks/aggregation.py [--data ../shared/data/faces] [--frames 16] [--model M.onnx]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from shared_data import DEFAULT_DATA, split_config

from deepshield.engine.aggregate import AGGREGATION_METHODS
from deepshield.engine.classifier import FaceClassifier
from deepshield.training.data import jpeg_round_trip
from deepshield.training.metrics import compute_metrics
from deepshield.training.sbi import self_blend
from deepshield.training.train import TEST_SBI_SEED_OFFSET, TrainConfig, load_part

FRAMES = 16  # frames per pseudo-video
SEED = 1234  # of the blends and the jitter


def jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = image.shape[0]
    scale = rng.uniform(0.95, 1.05)
    dx, dy = rng.uniform(-4, 4, size=2)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-3, 3), scale)
    matrix[:, 2] += (dx, dy)
    moved = cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
    moved = np.clip(moved.astype(np.float32) + rng.uniform(-10, 10), 0, 255).astype(np.uint8)
    return jpeg_round_trip(moved, int(rng.integers(70, 96)))


def pseudo_video_report(
    classifier: FaceClassifier, config: TrainConfig, frames: int, seed: int
) -> dict[str, object]:
    """Video-level figures of every aggregation method over the test split's pseudo-videos."""
    reals, fakes = load_part(config, "test")
    rng = np.random.default_rng(seed + TEST_SBI_SEED_OFFSET)
    videos: list[tuple[str, int, np.ndarray]] = []  # source, label, first frame
    for crop, marks in zip(reals.crops, reals.landmarks, strict=True):
        videos.append(("real", 0, crop))
        videos.append(("self-blended", 1, self_blend(crop, marks, rng).fake))
    videos.extend(("stylegan2", 1, crop) for crop in fakes.crops)
    frame_scores = []
    for _, _, still in videos:
        shown = np.stack([jitter(still, rng) for _ in range(frames)])
        frame_scores.append(classifier.predict(shown).p_fake)
    labels = np.array([label for _, label, _ in videos])
    sources = np.array([source for source, _, _ in videos])
    report = {}
    for name, method in AGGREGATION_METHODS.items():
        scores = np.array([method(s) for s in frame_scores])
        row = {}
        for subset in ("self-blended", "stylegan2"):
            chosen = (sources == "real") | (sources == subset)
            row[f"auc_{subset}"] = compute_metrics(
                labels[chosen], scores[chosen], classifier.threshold
            ).auc
        overall = compute_metrics(labels, scores, classifier.threshold)
        row.update(auc=overall.auc, accuracy=overall.accuracy, ece=overall.ece)
        report[name] = {k: round(v, 4) for k, v in row.items()}
    frame_level = compute_metrics(
        np.repeat(labels, frames), np.concatenate(frame_scores), classifier.threshold
    )
    return {
        "model_version": classifier.card.model_version,
        "videos": len(videos),
        "frames_per_video": frames,
        "frame_level_auc": round(frame_level.auc, 4),
        "methods": report,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--model", type=Path, help="an ONNX model with its card beside it")
    args = parser.parse_args()
    classifier = FaceClassifier(args.model)
    config = split_config(args.data, input_size=classifier.input_size)
    print(json.dumps(pseudo_video_report(classifier, config, args.frames, args.seed), indent=2))


if __name__ == "__main__":
    main()
