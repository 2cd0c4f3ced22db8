"""benchmarks/pooled_splits.py: figures over several evaluation sets pooled."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from deepshield.engine.classifier import FaceClassifier
from deepshield.engine.faces import create_detector, crop_face
from deepshield.training.face_crops import FaceSet
from deepshield.training.train import build_eval_set
from tests.fixtures.media_factory import write_image

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import shared_data  # noqa: E402
from pooled_splits import pooled_figures, pooled_sets  # noqa: E402


@pytest.fixture(scope="module")
def faces(astronaut: np.ndarray) -> FaceSet:
    crop = crop_face(astronaut, create_detector("centerface").detect(astronaut)[0], size=224)
    rng = np.random.default_rng(0)
    shifted = [np.clip(crop.pixels.astype(int) + s, 0, 255).astype(np.uint8) for s in (-20, 0, 20)]
    shifted[2] = np.clip(shifted[2] + rng.normal(0, 6, shifted[2].shape), 0, 255).astype(np.uint8)
    return FaceSet(
        [Path(f"{i}.png") for i in range(3)], np.stack(shifted), np.stack([crop.landmarks] * 3)
    )


def test_pooled_figures_count_every_face_once(faces: FaceSet) -> None:
    classifier = FaceClassifier()
    fakes = FaceSet(faces.paths[:1], faces.crops[:1], faces.landmarks[:1])
    one = build_eval_set(faces, fakes, seed=1, draws=2)
    other = build_eval_set(faces, fakes, seed=2, draws=3)
    pooled = pooled_figures(classifier, [one, other])
    assert (pooled["n_real"], pooled["n_stylegan2"]) == (6, 2)
    # the AUC of the pooled faces, each blend weighing 1/draws, computed directly
    p_fake = np.r_[
        classifier.predict_normalised(one.images).p_fake,
        classifier.predict_normalised(other.images).p_fake,
    ]
    labels, weights = np.r_[one.labels, other.labels], np.r_[one.weights, other.weights]
    assert pooled["auc"] == pytest.approx(roc_auc_score(labels, p_fake, sample_weight=weights))
    # a set pooled with itself ranks exactly as the set alone
    alone, doubled = pooled_figures(classifier, [one]), pooled_figures(classifier, [one, one])
    for name in ("auc", "self_blended_auc", "stylegan2_auc"):
        assert doubled[name] == pytest.approx(alone[name])
    assert doubled["n_real"] == 2 * alone["n_real"]


def test_sets_are_cropped_at_the_size_each_model_was_trained_at(
    tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model trained with `--input-size 256` once met 224 px crops here and ONNX Runtime
    refused them; the sets now follow the size asked for."""
    monkeypatch.setattr(shared_data, "CROP_CACHE_RUN", tmp_path / "run")
    for folder, count in (("real-ffhq", 14), ("fake-stylegan2", 7)):
        (tmp_path / folder).mkdir()
        for i in range(count):
            view = cv2.resize(astronaut[i * 4 : i * 4 + 440, i * 4 : i * 4 + 440], (320, 320))
            write_image(tmp_path / folder / f"{i}.jpg", view, quality=92)
    for size in (160, 256):
        sets = pooled_sets(tmp_path, 1234, size)
        assert [s.images.shape[1:] for s in sets] == [(3, size, size)] * 2
