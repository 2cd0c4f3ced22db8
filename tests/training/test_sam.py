from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from deepshield.training.sam import running_stats_frozen, sharpness_aware_step
from deepshield.training.train import TrainConfig


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(16, 4, generator=generator), torch.randint(0, 3, (16,), generator=generator)


def test_running_stats_frozen_keeps_statistics_and_restores_momentum() -> None:
    model = small_model().train()
    norm = model[1]
    assert isinstance(norm, nn.BatchNorm1d)
    before = norm.running_mean.clone(), norm.running_var.clone()  # type: ignore[union-attr]
    with running_stats_frozen(model):
        model(batch()[0] * 5 + 3)
    assert torch.equal(norm.running_mean, before[0])
    assert torch.equal(norm.running_var, before[1])
    assert norm.momentum == 0.1
    model(batch()[0] * 5 + 3)  # outside the context the statistics move again
    assert not torch.equal(norm.running_mean, before[0])


def test_step_uses_the_gradient_at_the_perturbed_weights() -> None:
    """With plain SGD (lr 1) the new weights are w - g(w + rho * g(w) / |g(w)|): computed here by
    hand, and different from a plain step's w - g(w)."""
    images, labels = batch()
    rho = 0.5

    reference = small_model().train()
    loss = F.cross_entropy(reference(images), labels)
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
    with torch.no_grad():
        for param, grad in zip(reference.parameters(), grads, strict=True):
            param.add_(grad * rho / norm)
    with running_stats_frozen(reference):
        perturbed = torch.autograd.grad(
            F.cross_entropy(reference(images), labels), list(reference.parameters())
        )
    start = [p.detach().clone() for p in small_model().parameters()]
    expected = [w - g for w, g in zip(start, perturbed, strict=True)]
    plain = [w - g for w, g in zip(start, grads, strict=True)]

    model = small_model().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    reported = sharpness_aware_step(
        model, optimizer, lambda: F.cross_entropy(model(images), labels), rho
    )

    assert abs(reported - loss.item()) < 1e-6  # the loss at the weights before the step
    for got, want in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-6)
    assert any(
        not torch.allclose(got.detach(), naive, atol=1e-4)
        for got, naive in zip(model.parameters(), plain, strict=True)
    )


def test_step_counts_the_batch_once_in_running_statistics() -> None:
    images, labels = batch()
    once = small_model().train()
    once(images)
    model = small_model().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # weights stay: compare statistics
    sharpness_aware_step(model, optimizer, lambda: F.cross_entropy(model(images), labels), 0.05)
    torch.testing.assert_close(model[1].running_mean, once[1].running_mean)
    torch.testing.assert_close(model[1].running_var, once[1].running_var)


@pytest.mark.parametrize(
    ("sam_rho", "sam_last", "expected"),
    [(0.05, 0, [0.05] * 4), (0.05, 1, [0.0, 0.0, 0.0, 0.05]), (0.0, 0, [0.0] * 4)],
)
def test_sharpness_aware_steps_fall_in_the_last_epochs_asked_for(
    sam_rho: float, sam_last: int, expected: list[float]
) -> None:
    paths = Path("real"), Path("fake"), Path("run")
    config = TrainConfig(*paths, epochs=4, sam_rho=sam_rho, sam_last=sam_last)
    assert [config.sam_rho_at(epoch) for epoch in range(4)] == expected
