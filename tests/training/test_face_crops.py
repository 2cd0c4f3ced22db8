from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepshield.engine.faces import CenterFaceDetector
from deepshield.training import face_crops as face_crops_module
from deepshield.training.face_crops import cached_faces, extract_faces
from tests.fixtures.media_factory import write_image


def test_images_without_a_face_are_listed_as_missing(tmp_path: Path, astronaut: np.ndarray) -> None:
    face, blank = tmp_path / "face.png", tmp_path / "blank.png"
    write_image(face, astronaut)
    write_image(blank, np.full((200, 200, 3), 128, np.uint8))
    faces = extract_faces([face, blank], CenterFaceDetector(), 64)
    assert faces.paths == [face] and faces.missing == [blank]
    assert faces.crops.shape == (1, 64, 64, 3) and faces.landmarks.shape == (1, 5, 2)


def test_face_cache_is_reused_only_by_the_same_crop_code(
    tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "face.jpg"
    write_image(image, astronaut, quality=92)
    cache, detector = tmp_path / "cache", CenterFaceDetector()
    first = cached_faces([image], detector, 64, cache)
    assert len(first) == 1 and len(list(cache.iterdir())) == 1
    again = cached_faces([image], detector, 64, cache)  # same code: read back, not recomputed
    assert np.array_equal(again.crops, first.crops) and len(list(cache.iterdir())) == 1
    # changed detection or cropping code (or detector weights) must not reuse old crops
    monkeypatch.setattr(face_crops_module, "crop_code_fingerprint", lambda: "other-code")
    cached_faces([image], detector, 64, cache)
    assert len(list(cache.iterdir())) == 2
