"""What the benchmarks share about ../shared/data/faces: where it lies, and the training
configuration whose seeded split they read (face crops cached in runs/lite0, as training's)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when needed: it brings torch, which face_detectors.py does without
    from deepshield.training.train import TrainConfig

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/faces"


def split_config(data: Path, seed: int = 1234, **settings: int) -> TrainConfig:
    """The configuration of a training run on ``data`` with split seed ``seed``; ``settings``
    override other fields (``input_size``)."""
    from deepshield.training.train import TrainConfig

    return TrainConfig(
        real_dir=data / "real-ffhq",
        fake_dir=data / "fake-stylegan2",
        out_dir=Path("runs/lite0"),
        seed=seed,
        **settings,  # type: ignore[arg-type]
    )
