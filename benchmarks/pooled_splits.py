"""Models judged on the validation and test splits pooled: twice the faces of either split.

Each split alone holds about 90 real faces and 30 StyleGAN2 faces, too few to tell models apart
by the 0.002-0.01 of AUC that recipe changes make (benchmarks/RESULTS.md, session 12: two
validation winners lost on test). Pooled, the splits hold 179 real faces, their self-blended
fakes (4 draws on validation, 8 on test, each weighing 1/draws, so every face counts once) and
60 StyleGAN2 faces. Validation is where a run chose its checkpoint, so pooled figures favour
each candidate slightly over the model it is compared with; read a tie as a tie.

For each model (the shipped one when none is given) this prints ROC AUC over all fakes, over
self-blended fakes and over StyleGAN2 faces, and the ECE over the first draw of each split's
blends (ECE counts faces, so it takes one blend per face).

    python benchmarks/pooled_splits.py [--data ../shared/data/faces] [--model M.onnx ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from shared_data import DEFAULT_DATA, split_config

from deepshield.engine.classifier import FaceClassifier
from deepshield.training.metrics import expected_calibration_error
from deepshield.training.train import (
    TEST_SBI_SEED_OFFSET,
    VAL_SBI_SEED_OFFSET,
    EvalSet,
    auc_by_source,
    build_eval_set,
    load_part,
)

SPLITS = {"val": (VAL_SBI_SEED_OFFSET, 4), "test": (TEST_SBI_SEED_OFFSET, 8)}  # offset, draws


def pooled_figures(classifier: FaceClassifier, sets: list[EvalSet]) -> dict[str, float]:
    sources = np.concatenate([np.array(s.sources) for s in sets])
    labels = np.concatenate([s.labels for s in sets])
    weights = np.concatenate([s.weights for s in sets])
    first = np.concatenate([s.first_draw() for s in sets])
    p_fake = np.concatenate([classifier.predict_normalised(s.images).p_fake for s in sets])
    aucs = auc_by_source(p_fake, labels, sources, weights)
    figures = {
        "auc": aucs["all"],
        "self_blended_auc": aucs["self-blended"],
        "stylegan2_auc": aucs["given-fake"],
    }
    figures["ece_first_draws"] = expected_calibration_error(labels[first], p_fake[first])
    figures["n_real"] = int((sources == "real").sum())
    figures["n_stylegan2"] = int((sources == "given-fake").sum())
    return figures


def pooled_sets(data: Path, seed: int, input_size: int) -> list[EvalSet]:
    """The validation and test sets, with their blends, of faces cropped at ``input_size``."""
    config = split_config(data, seed, input_size=input_size)
    sets = []
    for part, (offset, draws) in SPLITS.items():
        reals, fakes = load_part(config, part)
        sets.append(build_eval_set(reals, fakes, config.seed + offset, draws))
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=1234, help="the training run's split seed")
    parser.add_argument("--model", type=Path, nargs="+", default=[None], help="ONNX models")
    args = parser.parse_args()
    sets_by_size: dict[int, list[EvalSet]] = {}  # models may be trained at other crop sizes
    for model in args.model:
        classifier = FaceClassifier(model)
        size = classifier.input_size
        if size not in sets_by_size:
            sets_by_size[size] = pooled_sets(args.data, args.seed, size)
        figures = pooled_figures(classifier, sets_by_size[size])
        report = {"model_version": classifier.card.model_version}
        print(json.dumps(report | {k: round(v, 4) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
