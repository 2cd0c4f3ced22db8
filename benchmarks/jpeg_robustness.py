"""How the model holds up when faces are re-encoded or degraded (README, Limits).

Two views, for a model (the shipped one by default):
- the test split (real faces, one draw of their self-blended fakes, StyleGAN2 faces), each
  face crop re-encoded as JPEG at the given qualities: self-blended and StyleGAN2 AUC, ECE and
  the share of real faces at or over the model's threshold (false alarms);
- one real photo outside every split (scikit-image's astronaut, a scanned NASA portrait),
  degraded as a whole and then detected, cropped and scored as at serving time.

    python benchmarks/jpeg_robustness.py [--data ../shared/data/faces] [--model M.onnx]
        [--qualities 90 70 50]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from shared_data import DEFAULT_DATA, split_config
from skimage import data as skimage_data
from sklearn.metrics import roc_auc_score

from deepshield.engine.classifier import FaceClassifier
from deepshield.engine.faces import CenterFaceDetector, crop_face
from deepshield.training.data import jpeg_round_trip
from deepshield.training.metrics import compute_metrics
from deepshield.training.train import (
    TEST_SBI_SEED_OFFSET,
    TrainConfig,
    eval_crops,
    load_part,
    with_source,
)


def test_split_under_jpeg(
    config: TrainConfig, classifier: FaceClassifier, qualities: list[int]
) -> list[dict[str, object]]:
    reals, fakes = load_part(config, "test")
    crops, labels, source_list, *_ = eval_crops(reals, fakes, config.seed + TEST_SBI_SEED_OFFSET)
    sources = np.array(source_list)
    rows = []
    for quality in [None, *qualities]:
        shown = crops if quality is None else np.stack([jpeg_round_trip(c, quality) for c in crops])
        probs = classifier.predict(shown).p_fake
        row: dict[str, object] = {"jpeg_quality": quality}
        for name, key in (("self-blended", "self_blended_auc"), ("given-fake", "stylegan2_auc")):
            row[key] = round(float(roc_auc_score(*with_source(sources, labels, probs, name))), 4)
        row["ece"] = round(compute_metrics(labels, probs, classifier.threshold).ece, 4)
        row["real_over_threshold"] = round(
            float(np.mean(probs[sources == "real"] >= classifier.threshold)), 3
        )
        rows.append(row)
    return rows


def astronaut_variants(classifier: FaceClassifier) -> dict[str, float]:
    photo = np.asarray(skimage_data.astronaut())
    height, width = photo.shape[:2]
    variants = {
        "original": photo,
        "blurred (sigma 1)": cv2.GaussianBlur(photo, (0, 0), 1.0),
        "halved in size": cv2.resize(
            photo, (width // 2, height // 2), interpolation=cv2.INTER_AREA
        ),
        "JPEG quality 70": jpeg_round_trip(photo, 70),
        "JPEG quality 50": jpeg_round_trip(photo, 50),
    }
    detector, scores = CenterFaceDetector(), {}
    for name, image in variants.items():
        face = max(detector.detect(image), key=lambda found: found.score)
        crop = crop_face(image, face, size=classifier.input_size).pixels
        scores[name] = round(float(classifier.predict(crop[None]).p_fake[0]), 3)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=1234, help="the training run's split seed")
    parser.add_argument("--model", type=Path, help="an ONNX model with its card beside it")
    parser.add_argument("--qualities", type=int, nargs="+", default=[90, 70, 50])
    args = parser.parse_args()
    classifier = FaceClassifier(args.model)
    config = split_config(args.data, args.seed, input_size=classifier.input_size)
    report = {
        "model_version": classifier.card.model_version,
        "threshold": classifier.threshold,
        "test_split": test_split_under_jpeg(config, classifier, args.qualities),
        "astronaut_p_fake": astronaut_variants(classifier),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
