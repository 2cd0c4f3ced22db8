from __future__ import annotations

import numpy as np
import pytest

from deepshield.engine.faces import create_detector, crop_face
from deepshield.training.sbi import self_blend


@pytest.fixture(scope="module")
def face_crop(astronaut: np.ndarray):  # type: ignore[no-untyped-def]
    face = create_detector("centerface").detect(astronaut)[0]
    return crop_face(astronaut, face, size=224)


@pytest.mark.parametrize("seed", range(12))
def test_blend_changes_only_the_masked_face_region(face_crop, seed: int) -> None:  # type: ignore[no-untyped-def]
    result = self_blend(face_crop.pixels, face_crop.landmarks, np.random.default_rng(seed))
    outside = result.mask == 0
    inside = result.mask > 0.5
    # bit-identical to the background wherever the mask is zero
    assert np.array_equal(result.fake[outside], result.target[outside])
    # and really altered inside the mask
    if inside.any():
        change = np.abs(result.fake.astype(int) - result.target.astype(int))[inside].mean()
        assert change > 1.0
    # the mask sits on the face: its centre of mass is near the landmarks' centre
    ys, xs = np.nonzero(result.mask)
    weights = result.mask[ys, xs]
    centre = np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)])
    assert np.linalg.norm(centre - face_crop.landmarks.mean(0)) < 40
    # and leaves background around the face: the top rows and most of the crop untouched
    assert result.mask[:10].max() == 0
    assert (result.mask > 0).mean() < 0.6


def test_blend_is_reproducible_from_the_seed(face_crop) -> None:  # type: ignore[no-untyped-def]
    a = self_blend(face_crop.pixels, face_crop.landmarks, np.random.default_rng(3))
    b = self_blend(face_crop.pixels, face_crop.landmarks, np.random.default_rng(3))
    c = self_blend(face_crop.pixels, face_crop.landmarks, np.random.default_rng(4))
    assert np.array_equal(a.fake, b.fake)
    assert not np.array_equal(a.fake, c.fake)


def test_target_is_the_original_or_an_altered_copy(face_crop) -> None:  # type: ignore[no-untyped-def]
    """Over many draws both branches of the recipe happen: source altered or target altered."""
    kinds = set()
    for seed in range(20):
        result = self_blend(face_crop.pixels, face_crop.landmarks, np.random.default_rng(seed))
        kinds.add(bool(np.array_equal(result.target, face_crop.pixels)))
    assert kinds == {True, False}
