"""The shipped classifier: loads offline from the package, agrees with its torch checkpoint,
and returns calibrated probabilities and activation maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepshield.engine.classifier import DEFAULT_MODEL_PATH, FaceClassifier, normalise
from deepshield.engine.faces import create_detector, crop_face

CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "deepshield-lite0.pt"


@pytest.fixture(scope="module")
def classifier() -> FaceClassifier:
    return FaceClassifier()


@pytest.fixture(scope="module")
def astronaut_crop(astronaut: np.ndarray) -> np.ndarray:
    face = create_detector("centerface").detect(astronaut)[0]
    return crop_face(astronaut, face).pixels


def test_model_card_is_complete(classifier: FaceClassifier) -> None:
    card = classifier.card
    assert card.input_size == 224 and card.temperature > 0 and 0 < card.threshold < 1
    for key in ("data", "training", "metrics", "licence_notes", "calibration"):
        assert key in card.raw
    assert {"stylegan2", "self_blended", "all"} <= set(card.raw["metrics"]["test"])


def test_predictions_are_probabilities_with_maps(
    classifier: FaceClassifier, astronaut_crop: np.ndarray
) -> None:
    batch = np.stack([astronaut_crop, astronaut_crop[:, ::-1], np.zeros_like(astronaut_crop)])
    result = classifier.predict(batch)
    assert result.p_fake.shape == (3,) and np.all((result.p_fake >= 0) & (result.p_fake <= 1))
    assert result.cams.shape == (3, 7, 7)
    expected = 1 / (1 + np.exp(-result.margins / classifier.card.temperature))
    assert np.allclose(result.p_fake, expected)
    # batching does not change a face's score
    single = classifier.predict(astronaut_crop[None]).p_fake[0]
    assert single == pytest.approx(result.p_fake[0], abs=1e-6)


def test_wrong_crop_shape_is_refused(classifier: FaceClassifier) -> None:
    with pytest.raises(ValueError, match="expected"):
        classifier.predict(np.zeros((1, 100, 100, 3), np.uint8))
    assert classifier.predict(np.zeros((0, 224, 224, 3), np.uint8)).p_fake.shape == (0,)


def test_missing_model_or_card_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model card"):
        FaceClassifier(tmp_path / "model.onnx")


def test_shipped_onnx_matches_its_torch_checkpoint(astronaut_crop: np.ndarray) -> None:
    torch = pytest.importorskip("torch", reason="the torch comparison needs the [train] extra")
    from deepshield.training.export import ExportWrapper, load_checkpoint

    model = load_checkpoint(CHECKPOINT)
    generator = np.random.default_rng(0)
    inputs = np.concatenate(
        [
            normalise(astronaut_crop[None]),
            generator.standard_normal((3, 3, 224, 224)).astype(np.float32),
        ]
    )
    with torch.no_grad():
        expected = [t.numpy() for t in ExportWrapper(model)(torch.from_numpy(inputs))]
    session = FaceClassifier(DEFAULT_MODEL_PATH).load()
    got = session.run(["logits", "features", "cam"], {"input": inputs})
    for name, g, e in zip(("logits", "features", "cam"), got, expected, strict=True):
        assert np.abs(g - e).max() <= 1e-4, name


def test_normalise_equals_the_arithmetic_exactly() -> None:
    batch = np.random.default_rng(3).integers(0, 256, (3, 40, 56, 3), dtype=np.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    expected = (batch.astype(np.float32) * np.float32(1 / 255) - np.float32(mean)) / np.float32(std)
    got = normalise(batch, mean, std)
    assert got.dtype == np.float32 and got.shape == (3, 3, 40, 56)
    assert np.array_equal(got, expected.transpose(0, 3, 1, 2))
