"""Checks on the full shared face set (../shared/data/faces). Skipped with a reason where it is
absent; CI has it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepshield.engine.classifier import DEFAULT_MODEL_PATH, FaceClassifier
from deepshield.engine.faces import create_detector, select_faces
from deepshield.engine.media import load_image
from deepshield.training.data import list_images
from deepshield.training.export import measure_test_split
from deepshield.training.train import TrainConfig, load_splits

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

CARD = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())


def shipped_config(shared_faces: Path, tmp_path: Path) -> TrainConfig:
    stored = dict(CARD["training"]["config"])
    stored.update(
        real_dir=str(shared_faces / "real-ffhq"),
        fake_dir=str(shared_faces / "fake-stylegan2"),
        out_dir=str(tmp_path),
        cache_dir=str(tmp_path / "cache"),
    )
    return TrainConfig.from_json(stored)


def test_split_matches_the_model_card(shared_faces: Path, tmp_path: Path) -> None:
    real, fake = load_splits(shipped_config(shared_faces, tmp_path))
    split = CARD["data"]["split"]
    assert {p: len(real.part(p)) for p in ("train", "val", "test")} == split["real"]
    assert {p: len(fake.part(p)) for p in ("train", "val", "test")} == split["fake"]


def test_shipped_model_test_metrics_reproduce_the_model_card(
    shared_faces: Path, tmp_path: Path
) -> None:
    """Recomputing the test-split report with the shipped ONNX model gives the card's figures.

    Exactly on CPUs with AVX512, the card's kind; on an AVX2 AMD EPYC (session 18) OpenCV and
    ONNX Runtime round the self-blended fakes a little differently: self-blended AUC 0.96309
    against the card's 0.96284 (2 of 8100 pairs), ECE 1e-4 apart, StyleGAN2 figures equal. The
    tolerances allow that and no more: 1e-3 is under 3 misranked pairs and under one face's
    share of accuracy."""
    report = measure_test_split(shipped_config(shared_faces, tmp_path), FaceClassifier())
    card = CARD["metrics"]["test"]
    for source in ("all", "stylegan2", "self_blended"):
        for key in ("n_real", "n_fake"):
            assert report[source][key] == card[source][key], (source, key)  # type: ignore[index]
        for key in ("auc", "ece", "accuracy"):
            assert report[source][key] == pytest.approx(card[source][key], abs=1e-3), (source, key)  # type: ignore[index]
    assert report["all"]["auc"] > 0.9  # type: ignore[index]
    # the first of the other blend draws is the test split's own; the rest differ from it
    over_draws = report["self_blended_over_draws"]["auc"]  # type: ignore[index]
    assert over_draws == pytest.approx(card["self_blended_over_draws"]["auc"], abs=1e-3)
    assert over_draws[0] == round(report["self_blended"]["auc"], 4)  # type: ignore[index]
    assert len(set(over_draws)) > 1


def test_face_detector_recall_on_a_sample(shared_faces: Path) -> None:
    detector = create_detector("centerface")
    sample = (
        list_images(shared_faces / "real-ffhq")[::12]
        + list_images(shared_faces / "fake-stylegan2")[::12]
    )
    found = sum(
        bool(select_faces(detector.detect(load_image(p)), min_relative_area=0.1, min_size=40))
        for p in sample
    )
    assert found / len(sample) >= 0.95
