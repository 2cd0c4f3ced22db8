"""What the benchmarks share about ../shared/data/faces: where it lies, and the training
configuration whose seeded split they read (face crops cached in runs/lite0, as training's)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when needed: it brings torch, which face_detectors.py does without
    from deepshield.training.train import TrainConfig

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPOSITORY.parent / "shared/data/faces"
# training's default --out from the repository root; fixed here so that a benchmark run from
# another folder reuses that cache and writes nothing outside the ignored /runs/
CROP_CACHE_RUN = REPOSITORY / "runs/lite0"


def split_config(data: Path, seed: int = 1234, **settings: int) -> TrainConfig:
    """The configuration of a training run on ``data`` with split seed ``seed``; ``settings``
    override other fields (``input_size``)."""
    from deepshield.training.train import TrainConfig

    return TrainConfig(
        real_dir=data / "real-ffhq",
        fake_dir=data / "fake-stylegan2",
        out_dir=CROP_CACHE_RUN,
        seed=seed,
        **settings,  # type: ignore[arg-type]
    )
