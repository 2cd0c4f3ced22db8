"""Traces of an earlier JPEG compression in decoded pixels.

A PNG or lossless WebP saved from a JPEG (a format conversion, a screenshot at 100%) keeps
JPEG's 8x8 block grid: the steps between neighbouring pixels are larger across block borders
than inside blocks. Which faces get a verdict depends on whether the pixels carry compression
artefacts (``aggregate.MIN_JUDGED_FACE_PX_*``), so an image with that grid counts as compressed.

Written here, not taken from a library: the PyPI packages that judge JPEG history read the
quantisation tables of a JPEG file, which a PNG no longer has. The idea is that of Fan & de
Queiroz (2003, "Identification of bitmap compression history", IEEE TIP 12(2)), reduced to a
vote: in each band of 8 lines, where along the band is the largest mean step? Without a grid
the votes scatter; with one, most bands agree on the border position.
"""

from __future__ import annotations

import cv2
import numpy as np

BLOCK = 8
MIN_BANDS = 8  # fewer bands that can vote (images under 64 px, flat images) tell nothing
# Steps larger than this are edges of the scene, which fall anywhere and would outweigh the grid
MAX_STEP = 12.0
MAX_LINES_ACROSS = 1024  # every n-th line across: 12 MP photos in about 30 ms, not 120
# Bands agreeing, in both directions, for an image to count as once JPEG-compressed. Measured by
# benchmarks/jpeg_traces.py on the 800 photos of ../shared/data resampled to 0.7 (no grid): at
# most 0.30, 0.32 after a JPEG 98 round trip; counted as compressed after JPEG 95 / 90 / 80 /
# 70: 4.1% / 83.8% / 99.8% / 100% of them.
GRID_SHARE_THRESHOLD = 0.45


def block_grid_share(rgb: np.ndarray) -> float:
    """The share of 8-line bands whose largest mean step sits at the position most bands agree
    on, in the direction where it is smaller: about 1/8 to 1/4 without a block grid, over 1/2
    with the grid of JPEG at quality 80 or lower. 0.0 when fewer than ``MIN_BANDS`` can vote."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    shares = []
    for axis in (0, 1):
        # every line across is not needed to average along it: at most MAX_LINES_ACROSS of them
        keep = slice(None, None, -(-gray.shape[1 - axis] // MAX_LINES_ACROSS))
        lines = (gray[:, keep] if axis == 0 else gray[keep]).astype(np.float32)
        steps = np.minimum(np.abs(np.diff(lines, axis=axis)), MAX_STEP)
        per_line = steps.mean(axis=1 - axis)  # mean step between line i and line i + 1
        bands = per_line[: len(per_line) // BLOCK * BLOCK].reshape(-1, BLOCK)
        voting = bands[bands.max(axis=1) > np.median(bands, axis=1)]  # flat bands cannot vote
        if len(voting) < MIN_BANDS:
            return 0.0
        votes = np.bincount(voting.argmax(axis=1), minlength=BLOCK)
        shares.append(float(votes.max()) / len(voting))
    return min(shares)


def has_jpeg_traces(rgb: np.ndarray) -> bool:
    """Whether ``rgb`` shows the block grid of an earlier JPEG compression."""
    return block_grid_share(rgb) >= GRID_SHARE_THRESHOLD
