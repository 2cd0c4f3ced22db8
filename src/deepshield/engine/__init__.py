"""The analysis engine: media in, faces found, scored and explained, one verdict out."""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"  # the shipped models and their cards
