"""How the model's scores hold up on small faces (the threshold of ``RELIABLE_FACE_PX``).

Each test-split image (real FFHQ faces and StyleGAN2 faces, 512 px)
is shrunk as a whole so that its face's short side measures the given number of pixels, then
detected, cropped and scored as at serving time. Printed per face size: the share of real faces
at or over the model's threshold (false alarms), the share of StyleGAN2 faces caught, and the
StyleGAN2 ROC AUC. With ``--jpeg Q`` the shrunk image is also saved as JPEG at quality Q
before detection, as a photo passed around online would be.

    python benchmarks/face_size.py [--data ../shared/data/faces] [--model M.onnx]
        [--sizes 160 120 100 80 60 40] [--jpeg 70]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from jpeg_robustness import jpeg  # the sibling benchmark's JPEG round trip
from sklearn.metrics import roc_auc_score

from deepshield.engine.classifier import FaceClassifier
from deepshield.engine.faces import CenterFaceDetector, Face, crop_face
from deepshield.engine.media import load_image
from deepshield.training.train import TrainConfig, load_splits

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/faces"


def main_face(detector: CenterFaceDetector, image: np.ndarray) -> Face | None:
    found = detector.detect(image)
    return max(found, key=lambda face: face.score) if found else None


def score_at_size(
    image: np.ndarray,
    size: int | None,
    detector: CenterFaceDetector,
    classifier: FaceClassifier,
    quality: int | None = None,
) -> float | None:
    """p_fake of the image's face with the image shrunk so the face measures ``size`` px on its
    short side (None: as it is) and then JPEG-encoded at ``quality`` (None: not); None when no
    face is found."""
    face = main_face(detector, image)
    if face is None:
        return None
    if size is not None:
        scale = size / min(face.width, face.height)
        height, width = image.shape[:2]
        image = cv2.resize(
            image,
            (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )
    if quality is not None:
        image = jpeg(image, quality)
    if size is not None or quality is not None:
        face = main_face(detector, image)
        if face is None:
            return None
    crop = crop_face(image, face, size=classifier.input_size).pixels
    return float(classifier.predict(crop[None]).p_fake[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=1234, help="the training run's split seed")
    parser.add_argument("--model", type=Path, help="an ONNX model with its card beside it")
    parser.add_argument("--sizes", type=int, nargs="+", default=[160, 120, 100, 80, 60, 40])
    parser.add_argument("--jpeg", type=int, help="JPEG quality to save the shrunk image at")
    args = parser.parse_args()
    classifier, detector = FaceClassifier(args.model), CenterFaceDetector()
    config = TrainConfig(
        real_dir=args.data / "real-ffhq",
        fake_dir=args.data / "fake-stylegan2",
        out_dir=Path("runs/lite0"),
        seed=args.seed,
    )
    real_split, fake_split = load_splits(config)
    images = [(0, load_image(path)) for path in real_split.part("test")]
    images += [(1, load_image(path)) for path in fake_split.part("test")]
    native = [main_face(detector, image) for _, image in images]
    rows = []
    for size in [None, *args.sizes]:
        scored = [
            (label, score)
            for label, image in images
            if (score := score_at_size(image, size, detector, classifier, args.jpeg)) is not None
        ]
        labels = np.array([label for label, _ in scored])
        scores = np.array([score for _, score in scored])
        rows.append(
            {
                "face_px": size,
                "faces_found": f"{len(scored)}/{len(images)}",
                "real_over_threshold": round(
                    float(np.mean(scores[labels == 0] >= classifier.threshold)), 3
                ),
                "stylegan2_caught": round(
                    float(np.mean(scores[labels == 1] >= classifier.threshold)), 3
                ),
                "stylegan2_auc": round(float(roc_auc_score(labels, scores)), 3),
            }
        )
    report = {
        "model_version": classifier.card.model_version,
        "threshold": classifier.threshold,
        "jpeg_quality": args.jpeg,
        "native_face_px_median": round(
            float(np.median([min(f.width, f.height) for f in native if f is not None]))
        ),
        "by_face_size": rows,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
