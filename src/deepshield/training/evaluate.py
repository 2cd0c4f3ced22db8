"""``deepshield evaluate``: score labelled folders (or a CSV) of face images and videos with the
serving analysis itself (:class:`Analyzer`), then report detection and calibration metrics.

Needs the ``eval`` extra (scikit-learn, matplotlib), not torch. Files without a face and files
that cannot be read are counted and listed, never silently dropped; they are left out of the
metrics because the detector gives no score for them. Files the analysis scores but calls low
confidence (faces too small, too few frames with a face) count in the metrics as the service
scores them, are listed with their reason, and a second set of metrics leaves them out.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepshield.engine.analyze import Analyzer
from deepshield.engine.errors import MediaError
from deepshield.engine.media import MEDIA_SUFFIXES
from deepshield.training.metrics import (
    BOOTSTRAP_RESAMPLES,
    Metrics,
    bootstrap_intervals,
    compute_metrics,
)

LABELS = {"real": 0, "0": 0, "fake": 1, "1": 1}


class EvaluationInputError(ValueError):
    """The inputs do not allow an evaluation (missing or empty folder, bad CSV)."""


@dataclass(frozen=True)
class LabelledFile:
    path: Path
    label: int  # 0 real, 1 fake
    source: str  # sub-folder under real/ or fake/, or the CSV's optional source column


@dataclass
class Outcome:
    item: LabelledFile
    p_fake: float | None = None
    faces: int = 0
    problem: str | None = None  # "no_face" or an error code
    low_confidence_reason: str | None = None  # scored, but the evidence was thin


@dataclass
class EvaluationReport:
    metrics: Metrics
    per_source: dict[str, Metrics]
    outcomes: list[Outcome]
    no_face: list[Path] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # 90%, all files
    low_confidence: dict[str, str] = field(default_factory=dict)  # scored file -> reason
    # the metrics without the low-confidence files; None when there are none, or when leaving
    # them out leaves no real or no fake file
    confident: Metrics | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            **self.metrics.as_dict(),
            "intervals_90": {name: list(bounds) for name, bounds in self.intervals.items()},
            "per_source": {name: m.as_dict() for name, m in self.per_source.items()},
            "confident_only": self.confident.as_dict() if self.confident else None,
            "files_scored": sum(o.p_fake is not None for o in self.outcomes),
            "files_low_confidence": self.low_confidence,
            "files_without_face": [str(p) for p in self.no_face],
            "files_unreadable": self.unreadable,
        }


def files_in(folder: Path, label: int) -> list[LabelledFile]:
    if not folder.is_dir():
        raise EvaluationInputError(f"folder not found: {folder}")
    found = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
    )
    if not found:
        raise EvaluationInputError(
            f"no images or videos in {folder} (looked for {sorted(MEDIA_SUFFIXES)})"
        )
    kind = "real" if label == 0 else "fake"
    return [
        LabelledFile(
            p, label, kind if p.parent == folder else f"{kind}/{p.parent.relative_to(folder)}"
        )
        for p in found
    ]


def files_from_csv(csv_path: Path) -> list[LabelledFile]:
    """Rows ``path,label[,source]``; label is real/fake or 0/1; paths relative to the CSV."""
    if not csv_path.is_file():
        raise EvaluationInputError(f"CSV not found: {csv_path}")
    items = []
    with csv_path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().lower() in {"path", ""}:
                continue
            if len(row) < 2 or row[1].strip().lower() not in LABELS:
                raise EvaluationInputError(
                    f"{csv_path}:{number}: expected 'path,real|fake[,source]'"
                )
            label = LABELS[row[1].strip().lower()]
            source = row[2].strip() if len(row) > 2 and row[2].strip() else ("real", "fake")[label]
            items.append(LabelledFile((csv_path.parent / row[0].strip()).resolve(), label, source))
    if not items:
        raise EvaluationInputError(f"{csv_path} lists no files")
    return items


def score_file(item: LabelledFile, analyzer: Analyzer, frames: int) -> Outcome:
    """The file's score, faces scored and low-confidence reason from the very analysis ``scan``
    and the API run: the same face selection, sampling, limits and per-person aggregation. No
    score when no face is found."""
    result = analyzer.analyze(item.path, top_k=0, sample_frames=frames)
    if result.final_score is None:
        return Outcome(item, problem="no_face")
    return Outcome(
        item,
        p_fake=result.final_score,
        faces=len(result.per_frame),
        low_confidence_reason=result.low_confidence_reason if result.low_confidence else None,
    )


def evaluate(
    items: list[LabelledFile],
    analyzer: Analyzer,
    *,
    threshold: float | None = None,
    video_frames: int = 16,
    bootstrap: int = BOOTSTRAP_RESAMPLES,
    on_file: Callable[[Outcome], None] | None = None,
) -> EvaluationReport:
    """Score every file; metrics over the scored ones, per fake source when there are several,
    with 90% bootstrap intervals over ``bootstrap`` resamples (0: none)."""
    outcomes: list[Outcome] = []
    for item in items:
        try:
            outcome = score_file(item, analyzer, video_frames)
        except MediaError as exc:
            outcome = Outcome(item, problem=exc.code)
        outcomes.append(outcome)
        if on_file:
            on_file(outcome)
    scored = [o for o in outcomes if o.p_fake is not None]
    labels = np.array([o.item.label for o in scored])
    probs = np.array([o.p_fake for o in scored], dtype=float)
    if not scored or labels.min() == labels.max():
        raise EvaluationInputError(
            "need at least one scored real and one scored fake file; "
            f"scored {int((labels == 0).sum())} real and {int((labels == 1).sum())} fake"
        )
    cut = analyzer.threshold if threshold is None else threshold
    per_source: dict[str, Metrics] = {}
    fake_sources = sorted({o.item.source for o in scored if o.item.label == 1})
    if len(fake_sources) > 1:
        for name in fake_sources:
            chosen = np.array([o.item.label == 0 or o.item.source == name for o in scored])
            per_source[name] = compute_metrics(labels[chosen], probs[chosen], cut)
    confident = np.array([o.low_confidence_reason is None for o in scored])
    confident_metrics = (
        compute_metrics(labels[confident], probs[confident], cut)
        if not confident.all() and len(set(labels[confident])) == 2
        else None
    )
    return EvaluationReport(
        metrics=compute_metrics(labels, probs, cut),
        per_source=per_source,
        outcomes=outcomes,
        no_face=[o.item.path for o in outcomes if o.problem == "no_face"],
        unreadable={
            str(o.item.path): o.problem for o in outcomes if o.problem not in (None, "no_face")
        },
        intervals=bootstrap_intervals(labels, probs, cut, resamples=bootstrap) if bootstrap else {},
        low_confidence={
            str(o.item.path): o.low_confidence_reason for o in scored if o.low_confidence_reason
        },
        confident=confident_metrics,
    )


def save_plots(report: EvaluationReport, folder: Path) -> list[Path]:
    """ROC curve and reliability diagram as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import roc_curve

    folder.mkdir(parents=True, exist_ok=True)
    scored = [o for o in report.outcomes if o.p_fake is not None]
    labels = np.array([o.item.label for o in scored])
    probs = np.array([o.p_fake for o in scored], dtype=float)
    fpr, tpr, _ = roc_curve(labels, probs)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC {report.metrics.auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    roc_path = folder / "roc.png"
    fig.savefig(roc_path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    frac_pos, mean_pred = calibration_curve(labels, probs, n_bins=10, strategy="uniform")
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(mean_pred, frac_pos, marker="o", label=f"model (ECE {report.metrics.ece:.3f})")
    ax.set(xlabel="predicted p_fake", ylabel="observed share of fakes", title="Reliability")
    ax.legend(loc="upper left")
    reliability_path = folder / "reliability.png"
    fig.savefig(reliability_path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [roc_path, reliability_path]
