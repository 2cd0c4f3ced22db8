"""How the model's scores hold up on small faces: the evidence for the face-size floors in
``engine/aggregate.py`` (``MIN_JUDGED_FACE_PX_LOSSLESS``, ``MIN_JUDGED_FACE_PX_COMPRESSED``).

Each test-split image (real FFHQ faces and StyleGAN2 faces, 512 px) is shrunk as a whole so
that its face's short side measures the given number of pixels, then detected, cropped and
scored as at serving time. Printed per face size: the share of real faces at or over the
model's threshold (false alarms), the share of StyleGAN2 faces caught, and the StyleGAN2 ROC
AUC. With ``--jpeg Q`` the shrunk image is also saved as JPEG at quality Q before detection, as
a photo passed around online would be; with ``--h264`` it is encoded as one H.264 frame at
libx264's default quality (CRF 23) and decoded, as a video frame would be (a still frame: real
footage with motion gets fewer bits).

    python benchmarks/face_size.py [--data ../shared/data/faces] [--model M.onnx]
        [--sizes 160 120 100 80 60 40] [--jpeg 70 | --h264]
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np
from shared_data import DEFAULT_DATA, split_config
from sklearn.metrics import roc_auc_score

from deepshield.engine.classifier import FaceClassifier
from deepshield.engine.faces import CenterFaceDetector, Face, crop_face
from deepshield.engine.media import load_image
from deepshield.training.data import jpeg_round_trip
from deepshield.training.train import load_splits


def main_face(detector: CenterFaceDetector, image: np.ndarray) -> Face | None:
    found = detector.detect(image)
    return max(found, key=lambda face: face.score) if found else None


def h264(rgb: np.ndarray) -> np.ndarray:
    """The image as libx264 at its default quality encodes and decodes it, in memory."""
    height, width = (side // 2 * 2 for side in rgb.shape[:2])  # yuv420p needs even sides
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), "rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    buffer.seek(0)
    with av.open(buffer) as container:
        decoded: np.ndarray = next(container.decode(video=0)).to_ndarray(format="rgb24")
        return decoded


def score_at_size(
    image: np.ndarray,
    face: Face,
    size: int | None,
    detector: CenterFaceDetector,
    classifier: FaceClassifier,
    compress: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float | None:
    """p_fake of the image's ``face`` (found in it as it is) with the image shrunk so the face
    measures ``size`` px on its short side (None: as it is) and then passed through ``compress``
    (None: not); None when no face is found in the changed image."""
    if size is not None:
        scale = size / min(face.width, face.height)
        height, width = image.shape[:2]
        image = cv2.resize(
            image,
            (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )
    if compress is not None:
        image = compress(image)
    if size is not None or compress is not None:
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
    codec = parser.add_mutually_exclusive_group()
    codec.add_argument("--jpeg", type=int, help="JPEG quality to save the shrunk image at")
    codec.add_argument("--h264", action="store_true", help="pass it through H.264 (CRF 23)")
    args = parser.parse_args()
    jpeg = partial(jpeg_round_trip, quality=args.jpeg) if args.jpeg else None
    compress = h264 if args.h264 else jpeg
    classifier, detector = FaceClassifier(args.model), CenterFaceDetector()
    config = split_config(args.data, args.seed)
    real_split, fake_split = load_splits(config)
    images = [(0, load_image(path)) for path in real_split.part("test")]
    images += [(1, load_image(path)) for path in fake_split.part("test")]
    # each image's face as it is, found once: the shrinking of every size starts from it
    native = [
        (label, image, face) for label, image in images if (face := main_face(detector, image))
    ]
    rows = []
    for size in [None, *args.sizes]:
        scored = [
            (label, score)
            for label, image, face in native
            if (score := score_at_size(image, face, size, detector, classifier, compress))
            is not None
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
        "compression": "h264" if args.h264 else f"jpeg {args.jpeg}" if args.jpeg else None,
        "native_face_px_median": round(
            float(np.median([min(face.width, face.height) for _, _, face in native]))
        ),
        "by_face_size": rows,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
