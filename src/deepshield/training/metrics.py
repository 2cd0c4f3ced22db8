"""Detector metrics (scikit-learn where it has them): ROC AUC, AP, EER, TPR at fixed FPR,
accuracy at a threshold, expected calibration error, and bootstrap intervals of them all.
Labels: 1 = fake, scores = p_fake. Optional per-sample weights let a validation set hold several
self-blended draws of each real face while each face still counts once."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

ECE_BINS = 15
BOOTSTRAP_RESAMPLES = 1000
UNRESAMPLED_FIELDS = ("threshold", "n_real", "n_fake")  # fixed by design in every resample


@dataclass(frozen=True)
class Metrics:
    auc: float
    ap: float
    eer: float
    tpr_at_fpr_1: float
    tpr_at_fpr_5: float
    accuracy: float
    ece: float
    threshold: float
    n_real: int
    n_fake: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def tpr_at_fpr(
    labels: np.ndarray, scores: np.ndarray, max_fpr: float, weights: np.ndarray | None = None
) -> float:
    """Highest TPR whose FPR does not exceed ``max_fpr`` (step ROC, no interpolation)."""
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights)
    return float(tpr[fpr <= max_fpr].max())


def equal_error_rate(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> float:
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def expected_calibration_error(
    labels: np.ndarray,
    probs: np.ndarray,
    bins: int = ECE_BINS,
    weights: np.ndarray | None = None,
) -> float:
    """Weighted mean |accuracy - confidence| over equal-width bins of the predicted class's
    probability, as in Guo et al. 2017."""
    weights = np.ones(len(probs)) if weights is None else np.asarray(weights, dtype=float)
    predictions = (probs >= 0.5).astype(int)
    confidence = np.where(predictions == 1, probs, 1 - probs)
    correct = (predictions == labels).astype(float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > low) & (confidence <= high) if low > 0.5 else (confidence <= high)
        if in_bin.any():
            share = weights[in_bin].sum() / weights.sum()
            gap = np.average(correct[in_bin] - confidence[in_bin], weights=weights[in_bin])
            ece += share * abs(gap)
    return float(ece)


def compute_metrics(
    labels: np.ndarray, probs: np.ndarray, threshold: float, weights: np.ndarray | None = None
) -> Metrics:
    """Every metric of ``probs`` against ``labels``; ``n_real`` and ``n_fake`` count samples,
    whatever their ``weights``."""
    labels = np.asarray(labels, dtype=int)
    probs = np.asarray(probs, dtype=float)
    n_fake = int(labels.sum())
    n_real = int(len(labels) - n_fake)
    if n_fake == 0 or n_real == 0:
        raise ValueError("metrics need at least one real and one fake sample")
    return Metrics(
        auc=float(roc_auc_score(labels, probs, sample_weight=weights)),
        ap=float(average_precision_score(labels, probs, sample_weight=weights)),
        eer=equal_error_rate(labels, probs, weights),
        tpr_at_fpr_1=tpr_at_fpr(labels, probs, 0.01, weights),
        tpr_at_fpr_5=tpr_at_fpr(labels, probs, 0.05, weights),
        accuracy=float(np.average((probs >= threshold).astype(int) == labels, weights=weights)),
        ece=expected_calibration_error(labels, probs, weights=weights),
        threshold=float(threshold),
        n_real=n_real,
        n_fake=n_fake,
    )


def bootstrap_intervals(
    labels: np.ndarray,
    probs: np.ndarray,
    threshold: float,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = 0.9,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of every metric: the files are resampled with
    replacement, reals and fakes separately (so each resample keeps both classes and their
    counts). A small test set's figures carry this much sampling noise."""
    labels = np.asarray(labels, dtype=int)
    probs = np.asarray(probs, dtype=float)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)]
    names = [name for name in Metrics.__dataclass_fields__ if name not in UNRESAMPLED_FIELDS]
    rows = []
    for _ in range(resamples):
        chosen = np.concatenate([rng.choice(group, len(group)) for group in groups])
        resampled = compute_metrics(labels[chosen], probs[chosen], threshold).as_dict()
        rows.append([float(resampled[name]) for name in names])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.array(rows), [tail, 100 - tail], axis=0)
    return {name: (float(lo), float(hi)) for name, lo, hi in zip(names, low, high, strict=True)}
