from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepshield.training import data as data_module
from deepshield.training.data import (
    ExtraAugmentation,
    augment_together,
    jpeg_round_trip,
    split_files,
)
from deepshield.training.face_crops import FaceSet
from deepshield.training.sbi import OPACITIES


def names(n: int) -> list[Path]:
    return [Path(f"/x/img_{i:04d}.jpg") for i in range(n)]


def test_split_is_disjoint_complete_and_seeded() -> None:
    paths = names(600)
    split = split_files(paths, seed=1234)
    assert (len(split.train), len(split.val), len(split.test)) == (420, 90, 90)
    parts = [set(split.train), set(split.val), set(split.test)]
    assert set().union(*parts) == set(paths)
    assert sum(len(p) for p in parts) == 600
    assert split == split_files(list(reversed(paths)), seed=1234)  # input order does not matter
    assert split.test != split_files(paths, seed=1).test


def test_pair_augmentation_is_shared() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for seed in range(10):
        a, b = augment_together([image, image.copy()], np.random.default_rng(seed))
        assert np.array_equal(a, b)  # identical inputs stay identical: same flip, colour, JPEG
    changed = augment_together([image], np.random.default_rng(1))[0]
    assert changed.shape == image.shape and not np.array_equal(changed, image)


def test_jpeg_round_trip_loses_more_at_lower_quality(astronaut: np.ndarray) -> None:
    photo = np.ascontiguousarray(astronaut[:256, :256])
    errors = []
    for quality in (95, 70, 30):
        decoded = jpeg_round_trip(photo[:, ::-1], quality)  # a flipped view, as in augmentation
        assert decoded.shape == photo.shape and decoded.dtype == np.uint8
        assert decoded.flags["C_CONTIGUOUS"]
        errors.append(float(np.abs(decoded.astype(int) - photo[:, ::-1]).mean()))
    assert 0 < errors[0] < errors[1] < errors[2]
    assert errors[0] < 3  # channels in RGB order: swapped red and blue would differ far more


def test_pair_reframing_and_degradation_are_shared() -> None:
    from deepshield.training.data import degrade, reframe

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    seen_changed = 0
    for seed in range(20):
        a, b = degrade(
            reframe([image, image.copy()], np.random.default_rng(seed)), np.random.default_rng(seed)
        )
        assert np.array_equal(a, b) and a.shape == image.shape
        seen_changed += not np.array_equal(a, image)
    assert seen_changed == 20  # reframing always zooms or shifts a little


def face_and_blend(
    size: tuple[int, int], levels: tuple[int, int] = (0, 256)
) -> tuple[np.ndarray, np.ndarray]:
    """A random "face" and its "blend": the pair differs in the middle, as a face and its
    self-blended fake do."""
    height, width = size
    face = np.random.default_rng(0).integers(*levels, (height, width, 3), dtype=np.uint8)
    blend = face.copy()
    blend[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] //= 2
    return face, blend


def test_occlusion_is_one_rectangle_of_one_colour_the_same_in_every_image() -> None:
    from deepshield.training.data import OCCLUDER_SIDE, occlude

    face, blend = face_and_blend((100, 120))
    unchanged_face, unchanged_blend = face.copy(), blend.copy()
    for seed in range(20):
        occluded = occlude([face, blend], np.random.default_rng(seed))
        changed = [
            np.any(out != image, axis=2) for out, image in zip(occluded, [face, blend], strict=True)
        ]
        rows, columns = np.nonzero(changed[0] | changed[1])
        top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
        for out in occluded:  # the same box in both, filled with one colour
            box = out[top:bottom, left:right].reshape(-1, 3)
            assert (box == box[0]).all()
            assert np.array_equal(box[0], occluded[0][top, left])
        low, high = OCCLUDER_SIDE
        assert int(100 * low) - 1 <= bottom - top <= int(100 * high)
        assert int(120 * low) - 1 <= right - left <= int(120 * high)
        outside = np.ones((100, 120), bool)
        outside[top:bottom, left:right] = False
        assert np.array_equal(occluded[0][outside], face[outside])
        assert np.array_equal(occluded[1][outside], blend[outside])
    assert np.array_equal(face, unchanged_face) and np.array_equal(blend, unchanged_blend)


def test_occlusion_share_is_the_one_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_occlude = data_module.occlude

    def counting(images: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        calls.append(len(images))
        return real_occlude(images, rng)

    monkeypatch.setattr(data_module, "occlude", counting)
    image = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    rng = np.random.default_rng(1)
    for _ in range(200):
        a, b = augment_together([image, image.copy()], rng, ExtraAugmentation(occlusion=0.5))
        assert np.array_equal(a, b)
    assert 70 <= len(calls) <= 130 and set(calls) == {2}  # about half, on both images at once
    calls.clear()
    for share in (0.0, 1.0):
        for _ in range(20):
            augment_together([image], rng, ExtraAugmentation(occlusion=share))
        assert len(calls) == (20 if share else 0)
        calls.clear()


def test_strong_colour_change_is_one_affine_change_per_channel_shared_by_every_image() -> None:
    from deepshield.training.data import RGB_SHIFT, STRONG_CONTRAST, shift_colours

    face, blend = face_and_blend((32, 32), levels=(40, 216))
    unchanged_face, unchanged_blend = face.copy(), blend.copy()
    for seed in range(10):
        shifted = shift_colours([face, blend], np.random.default_rng(seed), 1.0)
        inputs = np.stack([face, blend]).reshape(-1, 3).astype(np.float64)
        outputs = np.stack(shifted).reshape(-1, 3).astype(np.float64)
        gains, offsets = [], []
        for channel in range(3):
            x, y = inputs[:, channel], outputs[:, channel]
            inside = (y > 0) & (y < 255)  # not clipped
            gain, offset = np.polyfit(x[inside], y[inside], 1)
            assert np.abs(gain * x[inside] + offset - y[inside]).max() < 1.01  # uint8 truncation
            gains.append(gain)
            offsets.append(offset)
        assert np.ptp(gains) < 0.01  # one contrast for all channels
        assert STRONG_CONTRAST[0] - 0.01 <= gains[0] <= STRONG_CONTRAST[1] + 0.01
        # one brightness for all channels, plus a shift of each channel
        spread = np.ptp(np.array(offsets) / gains[0])
        assert 0.5 < spread <= 2 * RGB_SHIFT + 1
    assert np.array_equal(face, unchanged_face) and np.array_equal(blend, unchanged_blend)


def test_strong_colour_change_comes_at_the_share_asked_for_and_costs_nothing_when_off() -> None:
    from deepshield.training.data import shift_colours

    image = np.full((8, 8, 3), 128, np.uint8)
    rng = np.random.default_rng(2)
    changed = sum(
        not np.array_equal(shift_colours([image], rng, 0.3)[0], image) for _ in range(400)
    )
    assert 0.41 * 400 <= changed <= 0.61 * 400  # 1 - 0.7 * 0.7 = 0.51 of the samples
    assert not any(np.array_equal(shift_colours([image], rng, 1.0)[0], image) for _ in range(20))
    # off, the augmentation draws the random numbers of the recipe without it
    plain_rng, off_rng = np.random.default_rng(5), np.random.default_rng(5)
    plain = augment_together([image], plain_rng)[0]
    off = augment_together([image], off_rng, ExtraAugmentation(colour_shift=0.0))[0]
    assert np.array_equal(plain, off)
    assert plain_rng.bit_generator.state == off_rng.bit_generator.state
    on_rng = np.random.default_rng(5)
    augment_together([image], on_rng, ExtraAugmentation(colour_shift=0.3))
    assert on_rng.bit_generator.state != plain_rng.bit_generator.state


def test_retouching_smooths_skin_and_keeps_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepshield.training.data import degrade

    for name in ("RESAMPLE_PROBABILITY", "BLUR_PROBABILITY"):
        monkeypatch.setattr(data_module, name, 0.0)
    monkeypatch.setattr(data_module, "RETOUCH_PROBABILITY", 1.0)
    rng = np.random.default_rng(0)
    image = np.full((64, 64, 3), 60, np.uint8)
    image[:, 32:] = 200  # a hard edge between two flat "skin" regions with fine noise
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    retouched, copy = degrade([image, image.copy()], np.random.default_rng(1))
    assert np.array_equal(retouched, copy)  # the same for a face and its blend
    for skin in (np.s_[:, 4:28], np.s_[:, 36:60]):  # the flat regions either side of the edge
        assert retouched[skin].astype(float).std() < 0.6 * image[skin].astype(float).std()
    step = retouched[:, 34].astype(float).mean() - retouched[:, 29].astype(float).mean()
    assert step > 130  # the edge kept: a Gaussian blur of this strength would soften it


def test_training_samples_carry_the_three_classes(astronaut: np.ndarray) -> None:
    from deepshield.engine.faces import create_detector, crop_face
    from deepshield.training.data import (
        LABEL_REAL,
        LABEL_SELF_BLENDED,
        LABEL_SYNTHETIC,
        Entry,
        make_samples,
    )

    crop = crop_face(astronaut, create_detector("centerface").detect(astronaut)[0], size=224)
    faces = FaceSet([Path("a.png")], crop.pixels[None], crop.landmarks[None])
    for seed in range(6):
        rng = np.random.default_rng(seed)
        (real, real_label), (fake, fake_label) = make_samples(
            Entry("pair", 0), faces, faces, rng, augment=True
        )
        assert (real_label, fake_label) == (LABEL_REAL, LABEL_SELF_BLENDED)
        assert real.shape == fake.shape == crop.pixels.shape
        # the blend changed the face: the fake is not its real with the same augmentation
        assert np.abs(real.astype(int) - fake.astype(int)).max() > 20
        [(synthetic, label)] = make_samples(Entry("fake", 0), faces, faces, rng, augment=True)
        assert label == LABEL_SYNTHETIC and synthetic.shape == crop.pixels.shape


def test_blending_the_fakes_pairs_each_fake_once_an_epoch_without_showing_it_more() -> None:
    from deepshield.training.data import Entry, training_entries

    plain = training_entries(3, 2, fake_repeat=4)
    assert plain == training_entries(3, 2, fake_repeat=4, blend_fakes=False)
    blended = training_entries(3, 2, fake_repeat=4, blend_fakes=True)
    assert blended[:3] == plain[:3] == [Entry("pair", i) for i in range(3)]
    for index in range(2):
        assert blended.count(Entry("fake", index)) == 3
        assert blended.count(Entry("fake-pair", index)) == 1  # shown a 4th time, beside its blend
    assert len(blended) == len(plain)


def test_a_fake_pair_is_the_fake_and_its_own_self_blend(astronaut: np.ndarray) -> None:
    from deepshield.engine.faces import create_detector, crop_face
    from deepshield.training.data import LABEL_SELF_BLENDED, LABEL_SYNTHETIC, Entry, make_samples
    from deepshield.training.sbi import self_blend

    crop = crop_face(astronaut, create_detector("centerface").detect(astronaut)[0], size=224)
    fakes = FaceSet([Path("a.png")], crop.pixels[None], crop.landmarks[None])
    no_reals = FaceSet([], np.zeros((0, 224, 224, 3), np.uint8), np.zeros((0, 5, 2), np.float32))
    for seed in range(4):
        (face, face_label), (blend, blend_label) = make_samples(
            Entry("fake-pair", 0), no_reals, fakes, np.random.default_rng(seed), augment=False
        )
        assert (face_label, blend_label) == (LABEL_SYNTHETIC, LABEL_SELF_BLENDED)
        assert np.array_equal(face, crop.pixels)  # the fake itself, not a real face
        expected = self_blend(crop.pixels, crop.landmarks, np.random.default_rng(seed)).fake
        assert np.array_equal(blend, expected)  # the self-blend of that very face


def test_eval_set_with_several_blend_draws_counts_each_face_once(astronaut: np.ndarray) -> None:
    from deepshield.engine.faces import create_detector, crop_face
    from deepshield.training.train import build_eval_set

    crop = crop_face(astronaut, create_detector("centerface").detect(astronaut)[0], size=224)
    pixels, landmarks = np.stack([crop.pixels] * 2), np.stack([crop.landmarks] * 2)
    reals = FaceSet([Path("a.png"), Path("b.png")], pixels, landmarks)
    fakes = FaceSet([Path("c.png")], crop.pixels[None], crop.landmarks[None])
    one, three = build_eval_set(reals, fakes, seed=7), build_eval_set(reals, fakes, 7, draws=3)
    assert three.sources == ["real"] * 2 + ["self-blended"] * 6 + ["given-fake"]
    assert three.labels.tolist() == [0, 0] + [1] * 7
    assert three.weights.tolist() == pytest.approx([1, 1] + [1 / 3] * 6 + [1])
    assert one.weights.tolist() == [1.0] * 5
    # the first draw is the one-draw set's (test figures stay comparable); later draws differ
    assert np.array_equal(three.images[:4], one.images[:4])
    assert not np.array_equal(three.images[2:4], three.images[4:6])
    first = three.first_draw()
    assert np.array_equal(three.images[first], one.images) and three.sources[-1] == "given-fake"
    assert np.array_equal(three.labels[first], one.labels)
    blends = np.array(three.sources) == "self-blended"
    assert set(three.opacities[blends]) <= set(OPACITIES)
    assert np.isnan(three.opacities[~blends]).all()


def test_self_blended_auc_is_measured_per_draw() -> None:
    from deepshield.training.train import EvalSet, self_blended_auc_per_draw

    sources = ["real"] * 2 + ["self-blended"] * 4 + ["given-fake"]
    evalset = EvalSet(np.zeros((7, 3, 2, 2)), np.array([0, 0, 1, 1, 1, 1, 1]), sources)
    # draw 1: both blends over both reals; draw 2: one blend under both, one between them
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.15, 0.05, 0.99])
    assert self_blended_auc_per_draw(scores, evalset) == [1.0, 0.25]
    assert evalset.weights.tolist() == [1.0] * 7  # none given: every image weighs 1


def test_self_blended_auc_is_split_by_blend_opacity() -> None:
    from deepshield.training.train import EvalSet, self_blended_auc_by_opacity

    sources = ["real"] * 2 + ["self-blended"] * 4 + ["given-fake"]
    nan = np.nan
    opacities = np.array([nan, nan, 1.0, 0.25, 1.0, 0.25, nan])
    evalset = EvalSet(np.zeros((7, 3, 2, 2)), np.array([0, 0, 1, 1, 1, 1, 1]), sources)
    evalset.opacities = opacities
    # opaque blends over both reals; faint ones: one under both reals, one tied with a real
    scores = np.array([0.1, 0.2, 0.9, 0.05, 0.8, 0.2, 0.0])
    by_opacity = self_blended_auc_by_opacity(scores, evalset)
    assert by_opacity[1.0] == {"blends": 2, "auc": 1.0, "share_of_misranked_pairs": 0.0}
    # faint: 2 + 0.5 of their 4 pairs misranked, all of the misranked pairs
    assert by_opacity[0.25] == {"blends": 2, "auc": 0.375, "share_of_misranked_pairs": 1.0}
