"""Learning-rate schedules: the default is torch's one-cycle; the SWA shape anneals to a floor
and holds it through the averaged epochs, and resumes from its state dict."""

from __future__ import annotations

import pytest
import torch

from deepshield.training.schedule import START_DIVISOR, learning_rate_schedule

MAX_LR, TOTAL, CONSTANT, FLOOR = 6e-4, 200, 50, 1.5e-4


def rates(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def new_optimizer() -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=MAX_LR)


def test_without_a_constant_rate_it_is_torchs_one_cycle() -> None:
    mine = learning_rate_schedule(new_optimizer(), max_lr=MAX_LR, total_steps=TOTAL)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        new_optimizer(), max_lr=MAX_LR, total_steps=TOTAL, pct_start=0.1
    )
    assert rates(mine, TOTAL) == rates(reference, TOTAL)


def test_swa_shape_warms_up_anneals_to_the_floor_and_holds_it() -> None:
    scheduler = learning_rate_schedule(
        new_optimizer(),
        max_lr=MAX_LR,
        total_steps=TOTAL,
        constant_steps=CONSTANT,
        constant_lr=FLOOR,
    )
    lr = rates(scheduler, TOTAL)
    warmup = int(0.1 * (TOTAL - CONSTANT))
    assert lr[0] == pytest.approx(MAX_LR / START_DIVISOR)
    assert max(lr) == pytest.approx(MAX_LR) and lr.index(max(lr)) == warmup
    assert all(a <= b for a, b in zip(lr[:warmup], lr[1 : warmup + 1], strict=True))
    annealing = lr[warmup : TOTAL - CONSTANT]
    assert all(a >= b for a, b in zip(annealing, annealing[1:], strict=False))
    assert annealing[-1] > FLOOR  # still annealing one step before the averaged epochs
    assert lr[TOTAL - CONSTANT :] == pytest.approx([FLOOR] * CONSTANT)


def test_swa_shape_resumes_from_its_state_dict() -> None:
    def build(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return learning_rate_schedule(
            optimizer, max_lr=MAX_LR, total_steps=TOTAL, constant_steps=CONSTANT, constant_lr=FLOOR
        )

    straight = rates(build(new_optimizer()), TOTAL)
    first = build(optimizer := new_optimizer())
    head = rates(first, 120)
    resumed = build(resumed_optimizer := new_optimizer())  # in the order train() resumes
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed.load_state_dict(first.state_dict())
    assert head + rates(resumed, TOTAL - 120) == pytest.approx(straight)
