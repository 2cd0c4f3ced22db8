"""How well `engine/jpeg_traces.py` tells pixels once JPEG-compressed from pixels that never
were, on the photos of ../shared/data/faces (real and StyleGAN2).

Those photos are JPEG files themselves, so pixels without a grid are made by resampling each to
0.7 of its size (area interpolation), which leaves no 8-pixel period. From there: JPEG round
trips at several qualities (the grid at its place), the JPEG 70 one cropped by (3, 5) pixels
(the grid moved), and resampled to 0.7 again (the grid gone: counted as lossless, as the
face-size floors were measured on such images, benchmarks/face_size.py).

    python benchmarks/jpeg_traces.py [--data ../shared/data/faces] [--limit N]

Prints, per kind of pixels, the band share (`block_grid_share`) at its minimum, 5th percentile,
median, 95th percentile and maximum, and the share of images counted as once compressed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from shared_data import DEFAULT_DATA

from deepshield.engine.jpeg_traces import GRID_SHARE_THRESHOLD, block_grid_share
from deepshield.engine.media import IMAGE_SUFFIXES, load_image


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])


def resample(rgb: np.ndarray, factor: float = 0.7) -> np.ndarray:
    return cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "the JPEG file as it is": lambda rgb: rgb,
    "resampled: no grid": resample,
    **{
        f"resampled, JPEG {quality}": (lambda q: lambda rgb: jpeg_round_trip(resample(rgb), q))(
            quality
        )
        for quality in (98, 95, 90, 80, 70, 50)
    },
    "resampled, JPEG 70, cropped by (3, 5)": lambda rgb: jpeg_round_trip(resample(rgb), 70)[3:, 5:],
    "resampled, JPEG 70, resampled again": lambda rgb: resample(jpeg_round_trip(resample(rgb), 70)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=0, help="first N photos of each kind; 0: all")
    args = parser.parse_args()
    paths = [
        path
        for folder in ("real-ffhq", "fake-stylegan2")
        for path in sorted(
            p for p in (args.data / folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
        )[: args.limit or None]
    ]
    shares: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for path in paths:
        rgb = load_image(path)
        for name, variant in VARIANTS.items():
            shares[name].append(block_grid_share(variant(rgb)))
    print(f"{len(paths)} photos; counted as once compressed at a share >= {GRID_SHARE_THRESHOLD}")
    print("| pixels | min | 5% | median | 95% | max | counted as compressed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, values in shares.items():
        v = np.array(values)
        low, p5, median, p95, high = np.percentile(v, [0, 5, 50, 95, 100])
        flagged = float((v >= GRID_SHARE_THRESHOLD).mean())
        print(
            f"| {name} | {low:.2f} | {p5:.2f} | {median:.2f} | {p95:.2f} | {high:.2f} "
            f"| {flagged:.1%} |"
        )


if __name__ == "__main__":
    main()
