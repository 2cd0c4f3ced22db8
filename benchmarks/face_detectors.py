"""Compare face detectors on ../shared/data/faces (every image holds exactly one face), on
multi-face collages built from those faces, and on face-free images from scikit-image.

    python benchmarks/face_detectors.py [--data ../shared/data/faces] [--json]

Recall: share of single-face images where the best detection overlaps the dominant face (the
detection whose centre is nearest the image centre has IoU >= 0.3 with it, see ``hit``).
False detections: detections beyond the expected count, and any detection on a face-free image.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from shared_data import DEFAULT_DATA
from skimage import data as skdata

from deepshield.engine.faces import Face, create_detector, select_faces


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def collage(faces: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Faces of different sizes pasted onto a 1280x720 grey canvas, left to right."""
    canvas = np.full((720, 1280, 3), 110, np.uint8)
    x = 20
    for face in faces:
        side = int(rng.integers(180, 360))
        tile = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        y = int(rng.integers(0, 720 - side))
        canvas[y : y + side, x : x + side] = tile
        x += side + 20
    return canvas


def no_face_images() -> list[np.ndarray]:
    images = [skdata.chelsea(), skdata.coffee(), skdata.rocket(), skdata.hubble_deep_field()]
    images.append(np.stack([skdata.brick()] * 3, axis=-1))
    images.append(np.stack([skdata.grass()] * 3, axis=-1))
    images.append(np.zeros((480, 640, 3), np.uint8))
    images.append(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8))
    return [np.ascontiguousarray(img[..., :3]) for img in images]


def timed_detect(
    detector_name: str, image: np.ndarray, detector: object
) -> tuple[list[Face], float]:
    start = time.perf_counter()
    faces = detector.detect(image)  # type: ignore[attr-defined]
    return faces, (time.perf_counter() - start) * 1000


def run(detector_name: str, data_dir: Path, max_side: int = 640) -> dict[str, object]:
    detector = create_detector(detector_name, max_side=max_side)
    paths = sorted(data_dir.glob("*/*.jpg"))
    detector.detect(load_rgb(paths[0]))  # warm-up
    found, extra, times = 0, 0, []
    missed: list[str] = []
    for path in paths:
        faces, ms = timed_detect(load_rgb(path), detector)
        faces = select_faces(faces, min_relative_area=0.1, min_size=40)
        times.append(ms)
        if faces:
            found += 1
            extra += len(faces) - 1
        else:
            missed.append(path.name)
    rng = np.random.default_rng(7)
    multi_expected = multi_found = multi_extra = 0
    for start in range(0, 60, 3):
        tiles = [load_rgb(p) for p in paths[start * 10 : start * 10 + 30 : 10]]
        faces, _ = timed_detect(collage(tiles, rng), detector)
        faces = select_faces(faces, min_relative_area=0.1, min_size=40)
        multi_expected += len(tiles)
        multi_found += min(len(faces), len(tiles))
        multi_extra += max(len(faces) - len(tiles), 0)
    false_on_empty = sum(len(detector.detect(img)) for img in no_face_images())
    return {
        "detector": detector_name,
        "max_side": max_side,
        "images": len(paths),
        "recall": found / len(paths),
        "extra_detections_single_face": extra,
        "multi_face_recall": multi_found / multi_expected,
        "multi_face_extra": multi_extra,
        "false_detections_no_face_images": false_on_empty,
        "no_face_images": len(no_face_images()),
        "ms_per_512px_image_median": statistics.median(times),
        "missed_examples": missed[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--detectors", nargs="+", default=["centerface", "haar"])
    parser.add_argument(
        "--max-sides", nargs="+", type=int, default=[640], help="detection sizes to try"
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"data folder not found: {args.data}")
    results = [run(name, args.data, side) for name in args.detectors for side in args.max_sides]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(
            f"{r['detector']:>10} @{r['max_side']}px: recall {r['recall']:.4f} "
            f"on {r['images']} faces, "
            f"{r['extra_detections_single_face']} extra; multi-face recall "
            f"{r['multi_face_recall']:.3f} ({r['multi_face_extra']} extra); "
            f"{r['false_detections_no_face_images']} detections on {r['no_face_images']} face-free "
            f"images; {r['ms_per_512px_image_median']:.1f} ms/image (median)"
        )
        if r["missed_examples"]:
            print(f"            missed e.g. {r['missed_examples']}")


if __name__ == "__main__":
    main()
