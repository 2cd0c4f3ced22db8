"""Sharpness-aware minimisation (Foret et al., ICLR 2021), as the self-blended-images paper
trains with: each step takes the gradient at the weights moved ``rho`` uphill along the
normalised gradient, which favours flat minima that generalise better from little data.

Written here rather than taken from a library: no maintained package provides it for plain torch,
and the step is a few lines around any optimiser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def running_stats_frozen(model: nn.Module) -> Iterator[None]:
    """Batch-norm layers normalise by the batch as usual but leave their running statistics
    unchanged (the second forward pass of a step must not count the batch twice)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.momentum = 0.0
    try:
        yield
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum


def sharpness_aware_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_of_model: Callable[[], torch.Tensor],
    rho: float,
) -> float:
    """One optimiser step with the gradient at the sharpness-aware point; returns the loss at
    the current weights (the one to report)."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_of_model()
    loss.backward()  # type: ignore[no-untyped-call]
    with_grad = [(p, p.grad) for p in model.parameters() if p.grad is not None]
    grad_norm = torch.linalg.vector_norm(torch.stack([grad.norm() for _, grad in with_grad]))
    scale = rho / (float(grad_norm) + 1e-12)
    with torch.no_grad():
        moves = [(param, grad * scale) for param, grad in with_grad]
        for param, move in moves:
            param.add_(move)
    optimizer.zero_grad(set_to_none=True)
    with running_stats_frozen(model):
        loss_of_model().backward()  # type: ignore[no-untyped-call]
    with torch.no_grad():
        for param, move in moves:
            param.sub_(move)
    optimizer.step()
    return float(loss.item())
