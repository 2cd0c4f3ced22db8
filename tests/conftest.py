from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

REPO = Path(__file__).resolve().parents[1]
SHARED_FACES = Path(os.environ.get("DEEPSHIELD_SHARED_FACES", REPO.parent / "shared/data/faces"))


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """NASA's public-domain astronaut portrait (512x512 RGB) as shipped by scikit-image."""
    return np.ascontiguousarray(skdata.astronaut())


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    if not (SHARED_FACES / "real-ffhq").is_dir():
        pytest.skip(f"shared face data not found at {SHARED_FACES} (CI has it)")
    return SHARED_FACES
