from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from deepshield.engine.explain import WARM, heat_from_cam, overlay, save_png


def test_heat_peaks_where_the_map_peaks() -> None:
    cam = np.full((7, 7), -1.0, np.float32)
    cam[1, 5] = 3.0
    heat = heat_from_cam(cam, 224)
    assert heat.shape == (224, 224) and heat.min() >= 0 and heat.max() <= 1
    y, x = np.unravel_index(int(heat.argmax()), heat.shape)
    assert 16 <= y <= 80 and 150 <= x <= 210  # cell (1, 5) of a 7x7 grid over 224 px
    assert not heat_from_cam(np.full((7, 7), -2.0, np.float32), 64).any()  # nothing positive


def test_overlay_keeps_natural_colours_outside_hot_regions(astronaut: np.ndarray) -> None:
    crop = astronaut[:224, :224].copy()
    cam = np.zeros((7, 7), np.float32)
    cam[3, 3] = 1.0
    heat = heat_from_cam(cam, 224)
    result = overlay(crop, heat)
    cold = heat < WARM
    assert cold.mean() > 0.5
    assert np.array_equal(result[cold], crop[cold])  # untouched, bit for bit
    hot = heat > 0.9
    assert np.abs(result[hot].astype(int) - crop[hot].astype(int)).mean() > 20


def test_png_round_trip(tmp_path: Path, astronaut: np.ndarray) -> None:
    path = save_png(tmp_path / "sub" / "x.png", astronaut)
    assert np.array_equal(np.asarray(Image.open(path)), astronaut)
