"""How precisely the test split can judge the model targets (DESIGN.md section 7).

The test split holds 90 real faces, one self-blended fake of each and 30 StyleGAN2 faces (the
validation split, --split val, about as many), so its figures carry sampling noise. For a
model (the shipped one by default) this prints:
- each target figure with a bootstrap 90% interval (`deepshield evaluate`'s: 1000 resamples,
  real and fake faces resampled separately);
- self-blended AUC over several draws of the test blends (the same faces, other blends), and
  the temperature that scaling would fit to each draw alone;
- over those draws, per blend opacity: the AUC of the real faces against those blends and
  their share of all misranked real-blend pairs (where the self-blended AUC is lost);
- the lowest ECE any temperature reaches on the split itself (a temperature fitted on the very
  faces it is judged on: if even that misses the target, no recalibration will meet it);
- the ECE that a perfectly calibrated model with the same scores would show: labels drawn as
  Bernoulli(p_fake), so any ECE it reports is the estimator's own noise floor.

    python benchmarks/test_split_uncertainty.py [--data ../shared/data/faces] [--draws 8]
        [--split test|val] [--model M.onnx]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from shared_data import DEFAULT_DATA, split_config

from deepshield.engine.classifier import FaceClassifier
from deepshield.training.calibrate import fake_probability, fit_temperature
from deepshield.training.metrics import (
    bootstrap_intervals,
    compute_metrics,
    expected_calibration_error,
)
from deepshield.training.train import (
    TEST_SBI_SEED_OFFSET,
    VAL_SBI_SEED_OFFSET,
    EvalSet,
    blend_draws,
    build_eval_set,
    load_part,
    self_blended_auc_by_opacity,
    self_blended_auc_per_draw,
    with_source,
)

RESAMPLES = 2000  # labels drawn for the ECE floor
TEMPERATURES = np.arange(0.5, 3.001, 0.01)  # searched for the split's own lowest ECE
BLEND_SEED_OFFSETS = {"test": TEST_SBI_SEED_OFFSET, "val": VAL_SBI_SEED_OFFSET}


def one_draw_sets(margins: np.ndarray, drawn: EvalSet) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Margins and labels of the real faces, one draw of their blends and the given fakes."""
    reals, draws = blend_draws(margins, drawn)
    fakes = margins[np.array(drawn.sources) == "given-fake"]
    labels = np.r_[np.zeros(len(reals)), np.ones(len(reals) + len(fakes))]
    for blends in draws:
        yield np.r_[reals, blends, fakes], labels


def lowest_ece(margins: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The temperature with the lowest ECE on these very faces, and that ECE."""
    eces = [expected_calibration_error(labels, fake_probability(margins, t)) for t in TEMPERATURES]
    best = int(np.argmin(eces))
    return {"temperature": round(float(TEMPERATURES[best]), 2), "ece": round(eces[best], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--draws", type=int, default=8, help="draws of the test blends")
    parser.add_argument("--seed", type=int, default=1234, help="the training run's split seed")
    parser.add_argument("--model", type=Path, help="an ONNX model with its card beside it")
    parser.add_argument("--split", choices=sorted(BLEND_SEED_OFFSETS), default="test")
    args = parser.parse_args()
    classifier = FaceClassifier(args.model)
    config = split_config(args.data, args.seed, input_size=classifier.input_size)
    reals, fakes = load_part(config, args.split)
    blend_seed = config.seed + BLEND_SEED_OFFSETS[args.split]

    # the split's own blends are the first draw; the others are further blends of the same faces
    drawn = build_eval_set(reals, fakes, blend_seed, args.draws)
    predicted = classifier.predict_normalised(drawn.images)
    first = drawn.first_draw()
    sources, labels, probs = (
        np.array(drawn.sources)[first],
        drawn.labels[first],
        predicted.p_fake[first],
    )
    threshold = classifier.threshold
    figures = {  # name: (metric, labels, scores)
        "self_blended_auc": ("auc", *with_source(sources, labels, probs, "self-blended")),
        "stylegan2_auc": ("auc", *with_source(sources, labels, probs, "given-fake")),
        "ece": ("ece", labels, probs),
    }
    report: dict[str, object] = {}
    measured: dict[str, float] = {}
    for name, (metric, truth, scores) in figures.items():
        measured[name] = float(compute_metrics(truth, scores, threshold).as_dict()[metric])
        low, high = bootstrap_intervals(truth, scores, threshold)[metric]
        report[name] = {
            "measured": round(measured[name], 4),
            "bootstrap_90": [round(low, 4), round(high, 4)],
        }

    aucs = self_blended_auc_per_draw(predicted.p_fake, drawn)
    report["self_blended_auc_over_blend_draws"] = [round(auc, 4) for auc in aucs]
    report["self_blended_by_opacity"] = self_blended_auc_by_opacity(predicted.p_fake, drawn)
    report["temperature_per_blend_draw"] = [
        round(fit_temperature(margins, truth), 3)
        for margins, truth in one_draw_sets(predicted.margins, drawn)
    ]
    report["temperature_of_the_model"] = round(classifier.card.temperature, 3)
    report["lowest_ece_any_temperature"] = lowest_ece(predicted.margins[first], labels)

    rng = np.random.default_rng(0)
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
