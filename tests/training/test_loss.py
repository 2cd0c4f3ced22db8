"""The training loss: plain cross-entropy by default, focal loss on request."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deepshield.training.train import classification_loss


def test_without_focusing_the_loss_is_torchs_cross_entropy_bit_for_bit() -> None:
    logits = torch.randn(24, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 3, (24,), generator=torch.Generator().manual_seed(1))
    for smoothing in (0.0, 0.1):
        expected = F.cross_entropy(logits, labels, label_smoothing=smoothing)
        assert torch.equal(classification_loss(logits, labels, smoothing, 0.0), expected)


def test_focal_loss_weights_each_sample_by_how_wrong_the_model_is() -> None:
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.0, 4.0]])  # confident: right, then wrong
    labels = torch.tensor([0, 0])
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    p_true = logits.softmax(dim=1)[:, 0]
    focal = classification_loss(logits, labels, 0.0, 2.0)
    assert float(focal) == pytest.approx(float(((1 - p_true) ** 2 * per_sample).mean()))
    easy = classification_loss(logits[:1], labels[:1], 0.0, 2.0) / per_sample[0]
    hard = classification_loss(logits[1:], labels[1:], 0.0, 2.0) / per_sample[1]
    assert float(easy) < 0.002 and float(hard) > 0.95  # the easy sample all but drops out


def test_focal_loss_trains_the_hard_samples_harder() -> None:
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.0, 4.0]], requires_grad=True)
    labels = torch.tensor([0, 0])
    classification_loss(logits, labels, 0.0, 2.0).backward()  # type: ignore[no-untyped-call]
    assert logits.grad is not None
    easy, hard = logits.grad.norm(dim=1)
    assert float(hard) > 100 * float(easy)
