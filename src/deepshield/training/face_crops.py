"""Face crops of training images, made by the serving face stage and cached on disk.

Kept apart from the augmentation code so that the cache key (a hash of the code that makes the
crops) changes only when detection or cropping does, not with every training change."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import PIL

from deepshield.engine import faces as faces_module
from deepshield.engine import media as media_module
from deepshield.engine.faces import CENTERFACE_PATH, FaceDetector, crop_face, select_faces
from deepshield.engine.media import load_image


@dataclass
class FaceSet:
    """Face crops of a list of images; ``missing`` lists images where no face was found."""

    paths: list[Path]
    crops: np.ndarray  # (N, S, S, 3) uint8
    landmarks: np.ndarray  # (N, 5, 2) float32, crop pixels
    missing: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)


def extract_faces(paths: Sequence[Path], detector: FaceDetector, size: int) -> FaceSet:
    """The largest face of each image, cropped exactly as at serving time."""
    kept: list[Path] = []
    crops, marks, missing = [], [], []
    for path in paths:
        image = load_image(path)
        faces = select_faces(detector.detect(image), min_relative_area=0.0, min_size=20)
        if not faces:
            missing.append(path)
            continue
        largest = max(faces, key=lambda face: face.area)
        crop = crop_face(image, largest, size=size)
        kept.append(path)
        crops.append(crop.pixels)
        marks.append(crop.landmarks)
    return FaceSet(
        paths=kept,
        crops=np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
        landmarks=np.stack(marks) if marks else np.zeros((0, 5, 2), np.float32),
        missing=missing,
    )


@functools.cache  # constant for a process; it reads the 7 MB detector file
def crop_code_fingerprint() -> str:
    """Hash of what turns an image file into a face crop: this module, the face and media
    modules, the detector weights, and the versions of the libraries that decode and detect."""
    digest = hashlib.sha256()
    for source in (Path(__file__), Path(faces_module.__file__), Path(media_module.__file__)):
        digest.update(source.read_bytes())
    digest.update(CENTERFACE_PATH.read_bytes())
    digest.update(f"{PIL.__version__} {cv2.__version__} {ort.__version__}".encode())
    return digest.hexdigest()[:16]


def cached_faces(
    paths: Sequence[Path], detector: FaceDetector, size: int, cache_dir: Path
) -> FaceSet:
    """:func:`extract_faces`, cached on disk by file list, sizes, mtimes, detector and the code
    that detects and crops (a cache made by other code would train on other crops unnoticed)."""
    key_source = json.dumps(
        [detector.name, size, crop_code_fingerprint()]
        + [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]
    )
    key = hashlib.sha256(key_source.encode()).hexdigest()[:16]
    cache_file = cache_dir / f"faces-{key}.npz"
    if cache_file.is_file():
        stored = np.load(cache_file)
        return FaceSet(
            paths=[Path(p) for p in stored["paths"]],
            crops=stored["crops"],
            landmarks=stored["landmarks"],
            missing=[Path(p) for p in stored["missing"]],
        )
    faces = extract_faces(paths, detector, size)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        paths=np.array([str(p) for p in faces.paths]),
        crops=faces.crops,
        landmarks=faces.landmarks,
        missing=np.array([str(p) for p in faces.missing]),
    )
    tmp.replace(cache_file)
    return faces
