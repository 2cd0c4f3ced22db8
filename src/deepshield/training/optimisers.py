"""The optimisers a training run can use and their defaults, importable without torch (the
command line reads them to build its options)."""

from __future__ import annotations

from typing import Literal

Optimiser = Literal["adamw", "sgd"]
# one-cycle peak learning rate of each: AdamW's chosen by the GPU sweeps (benchmarks/RESULTS.md);
# SGD's the common 0.01 for fine-tuning at a batch of about 24 images, not tuned here
DEFAULT_LR: dict[str, float] = {"adamw": 6e-4, "sgd": 1e-2}
# Nesterov momentum; only its start: the one-cycle schedule then swings it from 0.95 down to 0.85
# and back against the learning rate, as it does AdamW's beta1
SGD_MOMENTUM = 0.9
OPTIMISER_NAMES = {"adamw": "AdamW", "sgd": "SGD with Nesterov momentum"}  # for model cards
