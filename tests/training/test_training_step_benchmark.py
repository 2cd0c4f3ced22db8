"""The training-step benchmark times both layouts at the crop size asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "training_step.py"

pytestmark = pytest.mark.slow


def test_benchmark_reports_each_layout_at_the_size_asked_for() -> None:
    args = ["--repeats", "1", "--steps", "1", "--size", "96"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], check=True, capture_output=True, text=True
    )
    report = json.loads(result.stdout)
    assert report["size"] == 96
    assert set(report["median"]) == {"nchw", "channels-last"}
    for figures in report["median"].values():
        assert figures["train_step_s"] > 0 and figures["val_batch_s"] > 0
    assert report["nchw_over_channels_last"]["train_step_s"] > 0
