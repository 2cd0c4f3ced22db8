"""Seconds per training step and per validation batch of the detector model, with its weights
and activations in the NCHW layout (the default) and in channels-last (NHWC, `deepshield train
--channels-last`).

Batches have the shape of training's largest (24 images: 12 real/self-blended pairs) and of
validation's (64 images), of ``--size`` px (``deepshield train --input-size``); the content does
not change the time, so they are random. Each figure is the median over ``--steps`` steps, taken
``--repeats`` times in alternation, so that a noisy machine slows both layouts alike; the ratio
is what to read. Freed memory is kept, as ``deepshield train`` keeps it (training/allocator.py).

    python benchmarks/training_step.py [--repeats 3] [--steps 12] [--sam-rho 0.05] [--size 224]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import median_seconds  # noqa: E402

from deepshield.training.allocator import keep_freed_memory  # noqa: E402
from deepshield.training.model import NUM_CLASSES, EfficientNetLite0  # noqa: E402
from deepshield.training.optimisers import DEFAULT_LR  # noqa: E402
from deepshield.training.train import training_step  # noqa: E402

LAYOUTS = {"nchw": False, "channels-last": True}


def training_setup(
    channels_last: bool, batch: int, size: int = 224
) -> tuple[EfficientNetLite0, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    """A fresh model (seed 0) in training mode in the given layout, its AdamW optimiser at the
    default learning rate, and one random batch of images and labels."""
    torch.manual_seed(0)
    model = EfficientNetLite0(num_classes=NUM_CLASSES, channels_last=channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=DEFAULT_LR["adamw"])
    model.train()
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, NUM_CLASSES, (batch,))
    return model, optimizer, images, labels


def step_seconds(
    channels_last: bool, steps: int, batch: int, sam_rho: float, size: int = 224
) -> float:
    """Median seconds of one optimiser step on a fresh model in the given layout."""
    model, optimizer, images, labels = training_setup(channels_last, batch, size)
    return median_seconds(lambda: training_step(model, optimizer, images, labels, sam_rho), steps)


@torch.no_grad()
def forward_seconds(channels_last: bool, steps: int, batch: int, size: int = 224) -> float:
    """Median seconds of one inference forward pass (as validation runs it)."""
    model = EfficientNetLite0(num_classes=NUM_CLASSES, channels_last=channels_last).eval()
    images = torch.randn(batch, 3, size, size)
    return median_seconds(lambda: model(images), steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--sam-rho", type=float, default=0.0)
    parser.add_argument("--size", type=int, default=224, help="crop side in px")
    args = parser.parse_args()
    keep_freed_memory()
    results: dict[str, dict[str, list[float]]] = {
        name: {"train_step_s": [], "val_batch_s": []} for name in LAYOUTS
    }
    for _ in range(args.repeats):
        for name, channels_last in LAYOUTS.items():
            results[name]["train_step_s"].append(
                step_seconds(channels_last, args.steps, 24, args.sam_rho, args.size)
            )
            results[name]["val_batch_s"].append(
                forward_seconds(channels_last, args.steps, 64, args.size)
            )
    medians = {
        name: {key: round(statistics.median(values), 3) for key, values in figures.items()}
        for name, figures in results.items()
    }
    ratios = {
        key: round(medians["nchw"][key] / medians["channels-last"][key], 2)
        for key in ("train_step_s", "val_batch_s")
    }
    print(
        json.dumps(
            {
                "threads": torch.get_num_threads(),
                "sam_rho": args.sam_rho,
                "size": args.size,
                "median": medians,
                "nchw_over_channels_last": ratios,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
