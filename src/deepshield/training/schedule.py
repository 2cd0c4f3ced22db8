"""Learning-rate schedules, stepped once per batch.

The default is torch's one-cycle schedule: a short warm-up, then cosine annealing to almost
zero. For stochastic weight averaging with a constant learning rate (Izmailov et al. 2018) the
rate instead anneals to ``swa_lr`` by the first averaged epoch and stays there, so that the
averaged epochs are spread around the optimum, not crowded at the end of the annealing. torch's
``SWALR`` is meant to follow another scheduler; chaining it after ``OneCycleLR`` does not
resume cleanly from a state dict, so that shape is written here as one ``LambdaLR``.
"""

from __future__ import annotations

import math

import torch

WARMUP_FRACTION = 0.1  # OneCycleLR's pct_start as used here
START_DIVISOR = 25.0  # OneCycleLR's default div_factor: warm-up starts at max_lr / 25


def learning_rate_schedule(
    optimizer: torch.optim.Optimizer,
    *,
    max_lr: float,
    total_steps: int,
    constant_steps: int = 0,
    constant_lr: float = 0.0,
) -> torch.optim.lr_scheduler.LRScheduler:
    """One-cycle over ``total_steps``; or, with ``constant_lr > 0``, warm-up and cosine
    annealing to ``constant_lr`` over the first ``total_steps - constant_steps`` steps, then
    ``constant_lr`` for the last ``constant_steps``."""
    if constant_lr <= 0:
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=WARMUP_FRACTION
        )
    annealed_steps = total_steps - constant_steps
    warmup_steps = max(1, int(WARMUP_FRACTION * annealed_steps))
    floor = constant_lr / max_lr

    def factor(step: int) -> float:
        if step >= annealed_steps:
            return floor
        if step < warmup_steps:
            return _cosine(1 / START_DIVISOR, 1.0, step / warmup_steps)
        return _cosine(1.0, floor, (step - warmup_steps) / max(1, annealed_steps - warmup_steps))

    for group in optimizer.param_groups:
        group["lr"] = max_lr  # the rate LambdaLR scales
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _cosine(start: float, end: float, progress: float) -> float:
    """From ``start`` (progress 0) to ``end`` (progress 1) along half a cosine."""
    return end + (start - end) * (1 + math.cos(math.pi * min(progress, 1.0))) / 2
