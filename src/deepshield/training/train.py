"""Seeded, resumable training of the EfficientNet-Lite0 detector on real faces, their
self-blended fakes and the given fake faces; best checkpoint chosen by validation ROC AUC."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, update_bn
from tqdm import tqdm

from deepshield.engine.faces import CenterFaceDetector
from deepshield.training.calibrate import choose_threshold, fake_probability, fit_temperature
from deepshield.training.data import (
    LABEL_FAKE,
    LABEL_REAL,
    ExtraAugmentation,
    Split,
    iterate_batches,
    list_images,
    split_files,
    to_tensor_layout,
    training_entries,
)
from deepshield.training.face_crops import FaceSet, cached_faces
from deepshield.training.metrics import compute_metrics
from deepshield.training.model import (
    NUM_CLASSES,
    EfficientNetLite0,
    fake_margin,
    load_imagenet_backbone,
)
from deepshield.training.optimisers import DEFAULT_LR, SGD_MOMENTUM, Optimiser
from deepshield.training.sam import sharpness_aware_step
from deepshield.training.sbi import self_blend

VAL_SBI_SEED_OFFSET = 10_000
TEST_SBI_SEED_OFFSET = 20_000


@dataclass
class TrainConfig:
    real_dir: Path
    fake_dir: Path
    out_dir: Path
    epochs: int = 16
    batch_entries: int = 12  # a "pair" entry yields 2 images, so batches hold 12-24 images
    lr: float = DEFAULT_LR["adamw"]  # with optimizer "sgd", pass DEFAULT_LR["sgd"] or your own
    weight_decay: float = 1e-4
    seed: int = 1234
    input_size: int = 224  # crop side in px, a multiple of 32
    fake_repeat: int = 4  # StyleGAN2 faces are 1/3 as many as reals: show each 4 times an epoch
    threads: int = 0
    cache_dir: Path | None = None
    average_last: int = 0  # also try the mean weights of the last N epochs (SWA); 0: off
    # self-blended fakes of each validation face: one draw's AUC ranged from 0.96 to 0.99 for
    # the same model (benchmarks/RESULTS.md), too noisy to choose checkpoints or fit T on
    val_draws: int = 4
    drop_path: float = 0.0  # stochastic depth, rising over the blocks (EfficientNet uses 0.2)
    sam_rho: float = 0.0  # sharpness-aware minimisation radius (training/sam.py); 0: plain steps
    sam_last: int = 0  # with sam_rho: sharpness-aware steps in the last N epochs only; 0: in all
    channels_last: bool = False  # NHWC layout: about 1.5x as fast on a CPU, rounds differently
    # share of each target spread evenly over the classes (Szegedy et al. 2016); 0: hard labels
    label_smoothing: float = 0.0
    # focal loss (Lin et al. 2017): each sample's cross-entropy weighted by (1 - p_true)^gamma,
    # so the hard samples (faint blends, odd-looking real faces) count more; 0: plain
    focal_gamma: float = 0.0
    occlusion: float = 0.0  # share of training samples with one rectangle occluded (data.occlude)
    colour_shift: float = 0.0  # probability of each strong colour change (data.shift_colours)
    # self-blend the StyleGAN2 faces too, once an epoch each, as self-blended fakes
    blend_fakes: bool = False
    # weight decay is decoupled in AdamW (Loshchilov & Hutter 2019), added to the gradient in SGD
    optimizer: Optimiser = "adamw"

    def in_last_epochs(self, epoch: int, count: int) -> bool:
        """Whether epoch ``epoch`` (0-based) is one of the run's last ``count``."""
        return epoch >= self.epochs - count

    def extra_augmentation(self) -> ExtraAugmentation:
        return ExtraAugmentation(occlusion=self.occlusion, colour_shift=self.colour_shift)

    def sam_rho_at(self, epoch: int) -> float:
        """The sharpness-aware radius of epoch ``epoch`` (0-based); 0 for plain steps."""
        in_window = self.sam_last == 0 or self.in_last_epochs(epoch, self.sam_last)
        return self.sam_rho if in_window else 0.0

    @classmethod
    def from_json(cls, stored: dict[str, object]) -> TrainConfig:
        paths = {"real_dir", "fake_dir", "out_dir", "cache_dir"}
        values = {k: Path(str(v)) if k in paths and v is not None else v for k, v in stored.items()}
        return cls(**values)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class EvalSet:
    """Fixed validation or test images: reals, their self-blended fakes (seeded), given fakes.

    With several blend draws per real face each blend weighs 1/draws, so every face counts once
    and the mix of fake kinds stays as in a one-draw set."""

    images: np.ndarray  # normalised (N, 3, S, S)
    labels: np.ndarray
    sources: list[str] = field(default_factory=list)  # "real", "self-blended", "given-fake"
    weights: np.ndarray = field(default_factory=lambda: np.ones(0))  # empty: all 1
    # opacity of each self-blended fake's mask (sbi.OPACITIES), NaN for other images
    opacities: np.ndarray = field(default_factory=lambda: np.ones(0))  # empty: unknown

    def __post_init__(self) -> None:
        if len(self.weights) == 0:
            self.weights = np.ones(len(self.labels))
        if len(self.opacities) == 0:
            self.opacities = np.full(len(self.labels), np.nan)

    def first_draw(self) -> np.ndarray:
        """Mask of the one-draw set within: every real and given fake, the first draw of blends
        (the same images a one-draw ``build_eval_set`` with this seed makes)."""
        sources = np.array(self.sources)
        mask: np.ndarray = np.asarray(sources != "self-blended", dtype=bool)
        mask[np.flatnonzero(~mask)[: int((sources == "real").sum())]] = True
        return mask


def build_eval_set(reals: FaceSet, fakes: FaceSet, seed: int, draws: int = 1) -> EvalSet:
    crops, labels, sources, weights, opacities = eval_crops(reals, fakes, seed, draws)
    return EvalSet(to_tensor_layout(crops), labels, sources, weights, opacities)


def eval_crops(
    reals: FaceSet, fakes: FaceSet, seed: int, draws: int = 1
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
    """The uint8 crops (N, S, S, 3), labels, sources, weights and blend opacities of
    :func:`build_eval_set`."""
    rng = np.random.default_rng(seed)
    blended, blend_opacities = [], []
    for _ in range(draws):
        for crop, landmarks in zip(reals.crops, reals.landmarks, strict=True):
            blend = self_blend(crop, landmarks, rng)
            blended.append(blend.fake)
            blend_opacities.append(float(blend.mask.max()))
    crops = np.concatenate([reals.crops, np.stack(blended), fakes.crops])
    n_blends = len(blended)
    labels = np.array([LABEL_REAL] * len(reals) + [LABEL_FAKE] * (n_blends + len(fakes)))
    sources = ["real"] * len(reals) + ["self-blended"] * n_blends + ["given-fake"] * len(fakes)
    weights = np.r_[np.ones(len(reals)), np.full(n_blends, 1 / draws), np.ones(len(fakes))]
    opacities = np.r_[np.full(len(reals), np.nan), blend_opacities, np.full(len(fakes), np.nan)]
    return crops, labels, sources, weights, opacities


@torch.no_grad()
def predict_margins(model: EfficientNetLite0, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """log(p_fake / p_real) for each image."""
    model.eval()
    out = []
    for start in range(0, len(images), batch):
        out.append(fake_margin(model(torch.from_numpy(images[start : start + batch]))).numpy())
    return np.concatenate(out)


def per_source_auc(margins: np.ndarray, evalset: EvalSet) -> dict[str, float]:
    return auc_by_source(margins, evalset.labels, np.array(evalset.sources), evalset.weights)


def auc_by_source(
    scores: np.ndarray, labels: np.ndarray, sources: np.ndarray, weights: np.ndarray
) -> dict[str, float]:
    """Weighted ROC AUC over every image ("all"), and of the real faces against each kind of
    fake alone ("self-blended", "given-fake")."""
    from sklearn.metrics import roc_auc_score

    real = sources == "real"
    result = {"all": float(roc_auc_score(labels, scores, sample_weight=weights))}
    for name in ("self-blended", "given-fake"):
        chosen = real | (sources == name)
        result[name] = float(
            roc_auc_score(labels[chosen], scores[chosen], sample_weight=weights[chosen])
        )
    return result


def with_source(
    sources: np.ndarray, labels: np.ndarray, scores: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of the real faces and the fakes of one source."""
    chosen = (sources == "real") | (sources == name)
    return labels[chosen], scores[chosen]


def blend_draws(scores: np.ndarray, evalset: EvalSet) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the real faces (N,) and of their blends, one row per draw (draws, N)."""
    sources = np.array(evalset.sources)
    reals = scores[sources == "real"]
    return reals, scores[sources == "self-blended"].reshape(-1, len(reals))  # draw-major


def self_blended_auc_per_draw(scores: np.ndarray, evalset: EvalSet) -> list[float]:
    """ROC AUC of the real faces against each draw of their self-blended fakes separately."""
    from sklearn.metrics import roc_auc_score

    reals, blends = blend_draws(scores, evalset)
    labels = np.r_[np.zeros(len(reals)), np.ones(len(reals))]
    return [float(roc_auc_score(labels, np.r_[reals, draw])) for draw in blends]


def self_blended_auc_by_opacity(
    scores: np.ndarray, evalset: EvalSet
) -> dict[float, dict[str, float]]:
    """For each blend opacity: how many blends, the ROC AUC of the real faces against those
    blends (every draw), and their share of all misranked real-blend pairs (where the AUC of
    the self-blended fakes is lost)."""
    sources = np.array(evalset.sources)
    reals = scores[sources == "real"]
    blended = sources == "self-blended"
    opacities = np.round(evalset.opacities[blended], 2)
    # per blend: share of real faces scored above it (ties count half, as in ROC AUC)
    misranked = np.array(
        [np.mean(reals > blend) + 0.5 * np.mean(reals == blend) for blend in scores[blended]]
    )
    total = max(float(misranked.sum()), 1e-12)
    result = {}
    for opacity in np.unique(opacities):
        lost = misranked[opacities == opacity]
        result[float(opacity)] = {
            "blends": len(lost),
            "auc": round(1 - float(lost.mean()), 4),
            "share_of_misranked_pairs": round(float(lost.sum()) / total, 3),
        }
    return result


def load_splits(config: TrainConfig) -> tuple[Split, Split]:
    real_paths, fake_paths = list_images(config.real_dir), list_images(config.fake_dir)
    if not real_paths or not fake_paths:
        raise SystemExit(f"no images found in {config.real_dir} or {config.fake_dir}")
    return split_files(real_paths, config.seed), split_files(fake_paths, config.seed)


def load_faces(config: TrainConfig, split: Split, part: str) -> FaceSet:
    cache = config.cache_dir or config.out_dir / "cache"
    return cached_faces(split.part(part), CenterFaceDetector(), config.input_size, cache)


def load_part(config: TrainConfig, part: str) -> tuple[FaceSet, FaceSet]:
    """The real and the given fake faces of one part ("train", "val", "test") of the split."""
    real_split, fake_split = load_splits(config)
    return load_faces(config, real_split, part), load_faces(config, fake_split, part)


def same_settings(stored: dict[str, object], config: TrainConfig) -> bool:
    """Whether a checkpoint's stored settings are ``config``'s. A setting added after the run
    was started is missing from its record and takes its default, which keeps the behaviour
    from before the setting existed; a setting this version does not know never matches."""
    try:
        return TrainConfig.from_json(stored) == config
    except TypeError:
        return False


def train(config: TrainConfig, stop_after: int | None = None) -> Path | None:
    """Train (or resume) into ``config.out_dir``, then calibrate; returns the best checkpoint.

    ``stop_after`` ends this call after that many epochs (the run resumes on the next call, with
    the same result as an uninterrupted run) and returns None, as there is nothing final yet."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    print("detecting and cropping faces (cached after the first run) ...")
    train_real, train_fake = load_part(config, "train")
    val_real, val_fake = load_part(config, "val")
    for name, faces in [
        ("train", train_real),
        ("train", train_fake),
        ("val", val_real),
        ("val", val_fake),
    ]:
        if faces.missing:
            print(
                f"  {name}: no face found in {len(faces.missing)} images, skipped: "
                f"{[p.name for p in faces.missing][:5]}"
            )
    val = build_eval_set(val_real, val_fake, config.seed + VAL_SBI_SEED_OFFSET, config.val_draws)

    model = EfficientNetLite0(
        num_classes=NUM_CLASSES, drop_path=config.drop_path, channels_last=config.channels_last
    )
    load_imagenet_backbone(model)
    optimizer = make_optimizer(model, config)
    entries = training_entries(
        len(train_real), len(train_fake), config.fake_repeat, config.blend_fakes
    )
    steps_per_epoch = -(-len(entries) // config.batch_entries)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.1
    )
    last_path, best_path = config.out_dir / "last.pt", config.out_dir / "best.pt"
    start_epoch, best = 0, {"auc": -1.0, "loss": float("inf"), "epoch": -1}
    averaged = AveragedModel(model) if config.average_last else None
    average_pending = averaged is not None  # its validation, once training has ended
    if last_path.is_file():
        state = torch.load(last_path, map_location="cpu", weights_only=False)
        if not same_settings(state["config"], config):
            raise SystemExit(f"{last_path} was trained with other settings; use a new --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if averaged is not None:
            averaged.load_state_dict(state["averaged"])
            average_pending = not state.get("averaged_validated", False)
        start_epoch, best = state["epoch"] + 1, state["best"]
        print(f"resuming after epoch {start_epoch} (best val AUC {best['auc']:.4f})")

    def save_last(epoch: int, averaged_validated: bool = False) -> None:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "averaged": averaged.state_dict() if averaged is not None else None,
                "averaged_validated": averaged_validated,
                "epoch": epoch,
                "best": best,
                "config": config.to_json(),
            },
            last_path,
        )

    end_epoch = (
        config.epochs if stop_after is None else min(config.epochs, start_epoch + stop_after)
    )

    extra_augmentation = config.extra_augmentation()

    def epoch_batches(epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The shuffled, augmented training batches of ``epoch`` (0-based; ``config.epochs`` for
        the batch-norm pass of the mean weights), with torch seeded for it too: per-epoch
        streams, so a resumed run sees the data of an uninterrupted one."""
        rng = np.random.default_rng([config.seed, epoch])
        torch.manual_seed(config.seed * 1000 + epoch)
        return iterate_batches(
            entries, train_real, train_fake, rng, config.batch_entries, True, extra_augmentation
        )

    for epoch in range(start_epoch, end_epoch):
        batches = epoch_batches(epoch)
        sam_rho = config.sam_rho_at(epoch)
        model.train()
        started, losses = time.perf_counter(), []
        bar = tqdm(batches, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}")
        for images, labels in bar:
            inputs, targets = torch.from_numpy(images), torch.from_numpy(labels)
            losses.append(
                training_step(
                    model,
                    optimizer,
                    inputs,
                    targets,
                    sam_rho,
                    config.label_smoothing,
                    config.focal_gamma,
                )
            )
            scheduler.step()
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if averaged is not None and config.in_last_epochs(epoch, config.average_last):
            averaged.update_parameters(model)
        best = validate(
            model, val, best, config, started, epoch=epoch + 1, train_loss=float(np.mean(losses))
        )
        save_last(epoch)
    if end_epoch < config.epochs:
        print(f"stopped after epoch {end_epoch}; run the same command again to resume")
        return None
    if averaged is not None and average_pending:
        # batch-norm statistics of the mean weights, from one pass over the training data
        started = time.perf_counter()
        batches = epoch_batches(config.epochs)
        update_bn((torch.from_numpy(images) for images, _ in batches), averaged)
        mean_model = cast(EfficientNetLite0, averaged.module)
        best = validate(
            mean_model,
            val,
            best,
            config,
            started,
            epoch=config.epochs,
            averaged=config.average_last,
        )
        save_last(config.epochs - 1, averaged_validated=True)  # with the new best, done for good
    print(f"best epoch {best['epoch']}: val AUC {best['auc']:.4f}")
    calibrate(config, best_path, val)
    return best_path


def make_optimizer(model: EfficientNetLite0, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=SGD_MOMENTUM,
            nesterov=True,
            weight_decay=config.weight_decay,
        )
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float, focal_gamma: float
) -> torch.Tensor:
    """Mean cross-entropy (against smoothed targets when ``label_smoothing`` > 0); with
    ``focal_gamma`` > 0 each sample's term is weighted by (1 - p_true) ** ``focal_gamma``."""
    if not focal_gamma:  # torch's own reduction, as every run before focal loss
        return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    per_sample = F.cross_entropy(logits, labels, label_smoothing=label_smoothing, reduction="none")
    p_true = logits.softmax(dim=1).gather(1, labels[:, None])[:, 0]
    return ((1 - p_true) ** focal_gamma * per_sample).mean()


def training_step(
    model: EfficientNetLite0,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    sam_rho: float,
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
) -> float:
    """One optimiser step on a batch (sharpness-aware when ``sam_rho`` > 0); returns the loss
    (``classification_loss``)."""

    def loss_of_model() -> torch.Tensor:
        return classification_loss(model(images), labels, label_smoothing, focal_gamma)

    if sam_rho > 0:
        return sharpness_aware_step(model, optimizer, loss_of_model, sam_rho)
    loss = loss_of_model()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    return float(loss.item())


# Training is deterministic on one kind of machine, not across kinds: runs with these libraries at
# the same versions (constraints/train.txt) gave different first-epoch losses on an Intel Xeon and
# an AMD EPYC, both AVX512 with 2 threads, and the same loss on two sessions' AMD EPYC machines
# (benchmarks/RESULTS.md, sessions 7 and 9): the CPU and the thread count choose torch's and ONNX
# Runtime's kernels, and with them the rounding. Checkpoints record all these.
TRAINING_LIBRARIES = ("torch", "numpy", "pillow", "opencv-python-headless", "onnxruntime", "scipy")


def training_environment() -> dict[str, str | None]:
    """Versions of the libraries training depends on, torch's CPU instruction set and threads,
    and the CPU's model."""
    from importlib.metadata import PackageNotFoundError, version

    environment: dict[str, str | None] = {}
    for name in TRAINING_LIBRARIES:
        try:
            environment[name] = version(name)
        except PackageNotFoundError:
            environment[name] = None
    environment["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    environment["torch_threads"] = str(torch.get_num_threads())
    environment["cpu_model"] = cpu_model()
    return environment


def cpu_model() -> str | None:
    """The CPU's model name: from /proc/cpuinfo on Linux, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def validate(
    model: EfficientNetLite0,
    val: EvalSet,
    best: dict[str, float],
    config: TrainConfig,
    started: float,
    *,
    epoch: int,
    train_loss: float | None = None,
    averaged: int = 0,
) -> dict[str, float]:
    """Validation AUC and loss of ``model`` after ``epoch`` (the mean weights of the last
    ``averaged`` epochs when > 0), written to the run's history with the seconds since
    ``started``; saves ``best.pt`` when this model beats ``best`` (by AUC, ties by lower loss)
    and returns the new best."""
    margins = predict_margins(model, val.images)
    aucs = per_source_auc(margins, val)
    per_image_loss = F.cross_entropy(
        torch.from_numpy(np.stack([np.zeros_like(margins), margins], 1)),
        torch.from_numpy(val.labels),
        reduction="none",
    )
    val_loss = float(np.average(per_image_loss.numpy(), weights=val.weights))
    which = {"epoch": epoch} | ({"averaged_epochs": averaged} if averaged else {})
    record: dict[str, object] = {**which}
    if train_loss is not None:
        record["train_loss"] = train_loss
    record |= {"val_loss": val_loss, "val_auc": aucs}
    record["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(record))
    with (config.out_dir / "history.jsonl").open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    if (aucs["all"], -val_loss) <= (best["auc"], -best["loss"]):
        return best
    new_best = {"auc": aucs["all"], "loss": val_loss} | which
    torch.save(
        {
            "model": model.state_dict(),
            "config": config.to_json(),
            "best": new_best,
            "environment": training_environment(),
        },
        config.out_dir / "best.pt",
    )
    return new_best


def calibrate(config: TrainConfig, checkpoint: Path, val: EvalSet) -> dict[str, object]:
    """Fit temperature and threshold on validation; stored beside the checkpoint."""
    model = EfficientNetLite0(num_classes=NUM_CLASSES, channels_last=config.channels_last)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["model"])
    margins = predict_margins(model, val.images)
    temperature = fit_temperature(margins, val.labels, val.weights)
    probs = fake_probability(margins, temperature)
    threshold = choose_threshold(val.labels, probs, val.weights)
    result = {
        "temperature": temperature,
        "threshold": threshold,
        "val": compute_metrics(val.labels, probs, threshold, val.weights).as_dict(),
    }
    (config.out_dir / "calibration.json").write_text(json.dumps(result, indent=2))
    print(f"calibration: T={temperature:.3f}, threshold={threshold:.2f}")
    return result
