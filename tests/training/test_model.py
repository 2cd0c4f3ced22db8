from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from deepshield.engine.classifier import normalise
from deepshield.training.model import (
    EfficientNetLite0,
    fake_margin,
    imagenet_weights_path,
    load_imagenet_backbone,
)


def imagenet_top1(model: EfficientNetLite0, image: np.ndarray) -> int:
    resized = np.asarray(Image.fromarray(image).resize((224, 224), Image.Resampling.BILINEAR))
    with torch.no_grad():
        return int(model(torch.from_numpy(normalise(resized[None]))).argmax())


def test_imagenet_weights_load_strictly_and_classify() -> None:
    """Every tensor of the packaged checkpoint matches our module (strict=True), and the result
    recognises ImageNet classes, so layout, padding and normalisation are right."""
    model = EfficientNetLite0(num_classes=1000)
    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    assert imagenet_top1(model, skdata.chelsea()) in range(281, 286)  # the cat classes
    assert imagenet_top1(model, skdata.coffee()) == 967  # espresso


def test_backbone_loads_into_two_class_model() -> None:
    model = EfficientNetLite0(num_classes=2)
    head_before = model._fc.weight.detach().clone()
    load_imagenet_backbone(model)
    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(model._conv_stem.weight, state["_conv_stem.weight"])
    assert torch.equal(
        model._blocks[15]._project_conv.weight, state["_blocks.15._project_conv.weight"]
    )
    assert torch.equal(model._fc.weight, head_before)  # our own 2-way head is kept


@pytest.mark.parametrize("size", [224, 256])
def test_features_and_head_shapes(size: int) -> None:
    model = EfficientNetLite0(num_classes=2).eval()
    logits, features = model.forward_with_features(torch.zeros(2, 3, size, size))
    assert logits.shape == (2, 2)
    assert features.shape == (2, 1280, size // 32, size // 32)
    assert torch.allclose(model.forward_head(features), logits)


def test_fake_margin_is_the_log_odds_of_any_fake_class() -> None:
    logits = torch.tensor([[0.5, -1.0, 2.0], [3.0, 0.0, 0.0]])
    probabilities = torch.softmax(logits, dim=1)
    odds = (1 - probabilities[:, 0]) / probabilities[:, 0]
    assert torch.allclose(fake_margin(logits), torch.log(odds))
    two_class = torch.tensor([[0.5, 2.0]])
    assert torch.allclose(fake_margin(two_class), torch.tensor([1.5]))


def test_exported_cam_is_the_grad_cam_of_the_folded_margin() -> None:
    """The graph's ``cam`` equals autograd's Grad-CAM of log(p_fake / p_real), times h*w."""
    from deepshield.training.export import ExportWrapper

    torch.manual_seed(0)
    model = EfficientNetLite0(num_classes=3)
    load_imagenet_backbone(model)  # real features, not the near-zero ones of a random net
    model.eval()
    torch.nn.init.normal_(model._fc.weight, std=0.05)  # a head whose three classes differ
    photo = cv2.resize(skdata.astronaut(), (224, 224))
    x = torch.from_numpy(normalise(np.stack([photo, photo[:, ::-1]])))
    folded, features, cam = ExportWrapper(model)(x)
    assert torch.allclose(folded[:, 1] - folded[:, 0], fake_margin(model(x)), atol=1e-5)
    leaf = features.detach().requires_grad_(True)
    fake_margin(model.forward_head(leaf)).sum().backward()  # type: ignore[no-untyped-call]
    assert leaf.grad is not None
    weights = leaf.grad.mean(dim=(2, 3), keepdim=True)  # Grad-CAM's channel weights
    grad_cam = (weights * leaf).sum(dim=1).detach() * features.shape[2] * features.shape[3]
    assert grad_cam.abs().max() > 1.0  # a map worth comparing
    assert torch.allclose(cam, grad_cam, rtol=1e-4, atol=1e-4)


def test_stochastic_depth_acts_in_training_only() -> None:
    plain = EfficientNetLite0(num_classes=3)
    dropping = EfficientNetLite0(num_classes=3, drop_path=0.5)
    dropping.load_state_dict(plain.state_dict(), strict=True)  # no weights of its own
    rates = [block.drop for block in dropping._blocks]
    assert rates[0] == 0.0 and rates == sorted(rates) and 0.4 < rates[-1] < 0.5
    x = torch.randn(4, 3, 96, 96)
    plain.eval(), dropping.eval()
    with torch.no_grad():
        assert torch.equal(plain(x), dropping(x))  # served models are unchanged
        plain.train(), dropping.train()
        torch.manual_seed(0)
        differs = not torch.allclose(plain(x), dropping(x))
    assert differs


def test_memory_layout_changes_rounding_only() -> None:
    """The NCHW and channels-last models share checkpoints and agree up to rounding, in
    inference and in a training step's gradients; channels-last really is the layout used."""
    torch.manual_seed(0)
    fast = EfficientNetLite0(num_classes=3, channels_last=True)
    load_imagenet_backbone(fast)
    plain = EfficientNetLite0(num_classes=3)  # NCHW, the default
    plain.load_state_dict(fast.state_dict(), strict=True)
    assert fast._conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    assert plain._conv_stem.weight.is_contiguous()
    x = torch.randn(4, 3, 96, 96)
    fast.eval(), plain.eval()
    with torch.no_grad():
        features = fast.forward_features(x)
        assert features.is_contiguous(memory_format=torch.channels_last)
        assert not features.is_contiguous()  # a real NHWC tensor, not a coincidence of shape
        logits = fast(x)
        assert not torch.allclose(logits[0], logits[1])  # inputs tell apart: a real comparison
        assert torch.allclose(logits, plain(x), atol=1e-4)
    fast.train(), plain.train()
    for model in (fast, plain):
        torch.manual_seed(1)  # the same dropout
        torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0])).backward()
    # through 18 batch-normalised layers (batch statistics, 4 images) rounding grows, so compare
    # the whole gradient: the layouts agree to 0.7% of its norm here (5% allowed), a wrong one ~100%
    fast_grad, plain_grad = fast._conv_stem.weight.grad, plain._conv_stem.weight.grad
    assert fast_grad is not None and plain_grad is not None
    assert float((fast_grad - plain_grad).norm() / plain_grad.norm()) < 0.05
