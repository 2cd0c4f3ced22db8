"""How precisely the test split can judge the model targets (DESIGN.md section 7).

The test split holds 90 real faces, one self-blended fake of each and 30 StyleGAN2 faces, so
its figures carry sampling noise. For a model (the shipped one by default) this prints:
- each target figure with a bootstrap 90% interval (faces resampled with replacement);
- self-blended AUC over several draws of the test blends (the same faces, other blends);
- the ECE that a perfectly calibrated model with the same scores would show: labels drawn as
  Bernoulli(p_fake), so any ECE it reports is the estimator's own noise floor.

    python benchmarks/test_split_uncertainty.py [--data ../shared/data/faces] [--draws 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from deepshield.engine.classifier import FaceClassifier
from deepshield.training.metrics import expected_calibration_error
from deepshield.training.train import (
    TEST_SBI_SEED_OFFSET,
    EvalSet,
    TrainConfig,
    build_eval_set,
    load_faces,
    load_splits,
)

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/faces"
RESAMPLES = 2000


def target_figures(labels: np.ndarray, probs: np.ndarray, sources: np.ndarray) -> list[float]:
    real = sources == "real"
    figures = []
    for name in ("self-blended", "given-fake"):
        chosen = real | (sources == name)
        figures.append(float(roc_auc_score(labels[chosen], probs[chosen])))
    return [*figures, expected_calibration_error(labels, probs)]


def bootstrap(evalset: EvalSet, probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Target figures of RESAMPLES bootstrap resamples, drawn within each source."""
    sources = np.array(evalset.sources)
    groups = [np.flatnonzero(sources == name) for name in ("real", "self-blended", "given-fake")]
    rows = []
    for _ in range(RESAMPLES):
        chosen = np.concatenate([rng.choice(group, len(group)) for group in groups])
        rows.append(target_figures(evalset.labels[chosen], probs[chosen], sources[chosen]))
    return np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--draws", type=int, default=5, help="draws of the test blends")
    parser.add_argument("--seed", type=int, default=1234, help="the training run's split seed")
    parser.add_argument("--model", type=Path, help="an ONNX model with its card beside it")
    args = parser.parse_args()
    config = TrainConfig(
        real_dir=args.data / "real-ffhq",
        fake_dir=args.data / "fake-stylegan2",
        out_dir=Path("runs/lite0"),
        seed=args.seed,
    )
    classifier = FaceClassifier(args.model)
    real_split, fake_split = load_splits(config)
    reals, fakes = load_faces(config, real_split, "test"), load_faces(config, fake_split, "test")
    rng = np.random.default_rng(0)

    evalset = build_eval_set(reals, fakes, config.seed + TEST_SBI_SEED_OFFSET)
    probs = classifier.predict_normalised(evalset.images).p_fake
    measured = target_figures(evalset.labels, probs, np.array(evalset.sources))
    low, high = np.percentile(bootstrap(evalset, probs, rng), [5, 95], axis=0)
    names = ["self_blended_auc", "stylegan2_auc", "ece"]
    report: dict[str, object] = {
        name: {"measured": round(m, 4), "bootstrap_90": [round(lo, 4), round(hi, 4)]}
        for name, m, lo, hi in zip(names, measured, low, high, strict=True)
    }

    draws = [measured[0]]  # the test split's own blends, then other draws of them
    for draw in range(1, args.draws):
        other = build_eval_set(reals, fakes, config.seed + TEST_SBI_SEED_OFFSET + draw * 100_003)
        other_probs = classifier.predict_normalised(other.images).p_fake
        draws.append(target_figures(other.labels, other_probs, np.array(other.sources))[0])
    report["self_blended_auc_over_blend_draws"] = [round(a, 4) for a in draws]

    floor = [
        expected_calibration_error((rng.random(len(probs)) < probs).astype(int), probs)
        for _ in range(RESAMPLES)
    ]
    report["ece_of_a_perfectly_calibrated_model"] = {
        "median": round(float(np.median(floor)), 4),
        "90": [round(float(v), 4) for v in np.percentile(floor, [5, 95])],
        "share_over_0.05": round(float(np.mean(np.array(floor) > 0.05)), 3),
    }
    report["model_version"] = classifier.card.model_version
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
