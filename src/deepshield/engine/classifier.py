"""The face classifier: an ONNX Runtime session over the shipped EfficientNet-Lite0 and its
model card. Returns calibrated p_fake and class activation maps in one pass; no torch."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from deepshield.engine import WEIGHTS_DIR
from deepshield.engine.onnx_session import create_session

MODEL_FILE_NAME = "deepshield-lite0.onnx"
MODEL_CARD_NAME = "deepshield-lite0.json"
DEFAULT_MODEL_PATH = WEIGHTS_DIR / MODEL_FILE_NAME
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(
    batch: np.ndarray,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float32, scaled to [0, 1] then standardised."""
    lookup = _normalisation_table(tuple(mean), tuple(std))
    out = np.empty((batch.shape[0], 3, batch.shape[1], batch.shape[2]), np.float32)
    for channel in range(3):  # a table lookup per channel: ~3x faster than the arithmetic
        out[:, channel] = np.take(lookup[channel], batch[..., channel])
    return out


@lru_cache(maxsize=8)
def _normalisation_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(3, 256): the normalised value of every byte in each channel, computed as the arithmetic
    would, so a lookup gives the same float32 numbers."""
    values = np.arange(256, dtype=np.float32)[None, :] * np.float32(1 / 255)
    mean_arr = np.asarray(mean, np.float32)[:, None]
    std_arr = np.asarray(std, np.float32)[:, None]
    table: np.ndarray = (values - mean_arr) / std_arr
    return table


@dataclass(frozen=True)
class ModelCard:
    model_version: str
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    temperature: float
    threshold: float
    raw: dict[str, object]

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        if not path.is_file():
            raise FileNotFoundError(f"model card not found: {path} (expected beside the model)")
        card = json.loads(path.read_text())
        norm = card["input"]["normalisation"]
        return cls(
            model_version=str(card["model_version"]),
            input_size=int(card["input"]["size"]),
            mean=tuple(float(v) for v in norm["mean"]),
            std=tuple(float(v) for v in norm["std"]),
            temperature=float(card["calibration"]["temperature"]),
            threshold=float(card["threshold"]),
            raw=card,
        )


@dataclass(frozen=True)
class Predictions:
    p_fake: np.ndarray  # (N,) calibrated probability that the face is manipulated
    margins: np.ndarray  # (N,) logit_fake - logit_real, before temperature
    cams: np.ndarray  # (N, h, w) class activation maps of the margin


class FaceClassifier:
    """Batched inference with an idempotent, thread-safe :meth:`load`."""

    def __init__(
        self,
        model_path: Path | None = None,
        card_path: Path | None = None,
        *,
        threads: int = 0,
        batch_size: int = 16,
    ) -> None:
        self.model_path = Path(model_path or DEFAULT_MODEL_PATH)
        self.card = ModelCard.load(Path(card_path or self.model_path.with_suffix(".json")))
        self.threads = threads
        self.batch_size = batch_size
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        return self.card.threshold

    @property
    def input_size(self) -> int:
        return self.card.input_size

    def load(self) -> ort.InferenceSession:
        with self._lock:
            if self._session is None:
                self._session = create_session(self.model_path, threads=self.threads)
            return self._session

    def predict(self, crops: np.ndarray) -> Predictions:
        """Scores for (N, S, S, 3) uint8 RGB face crops, S = the card's input size. Crops are
        normalised one batch at a time, so memory does not grow with N (a float copy of every
        crop of a long video would be ~0.6 MB each)."""
        size = self.input_size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise ValueError(f"expected (N, {size}, {size}, 3) crops, got {crops.shape}")
        parts = [
            self.predict_normalised(
                normalise(crops[i : i + self.batch_size], self.card.mean, self.card.std)
            )
            for i in range(0, len(crops), self.batch_size)
        ]
        if not parts:
            return self.predict_normalised(np.zeros((0, 3, size, size), np.float32))
        return Predictions(
            p_fake=np.concatenate([p.p_fake for p in parts]),
            margins=np.concatenate([p.margins for p in parts]),
            cams=np.concatenate([p.cams for p in parts]),
        )

    def predict_normalised(self, images: np.ndarray) -> Predictions:
        session = self.load()
        margins, cams = [], []
        for start in range(0, len(images), self.batch_size):
            logits, cam = session.run(
                ["logits", "cam"], {"input": images[start : start + self.batch_size]}
            )
            margins.append(logits[:, 1] - logits[:, 0])
            cams.append(cam)
        if not margins:
            empty = np.zeros(0, np.float32)
            return Predictions(empty, empty, np.zeros((0, 1, 1), np.float32))
        margin = np.concatenate(margins).astype(np.float64)
        p_fake = 1.0 / (1.0 + np.exp(-margin / self.card.temperature))
        return Predictions(p_fake=p_fake, margins=margin, cams=np.concatenate(cams))
