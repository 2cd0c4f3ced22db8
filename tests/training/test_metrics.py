from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from deepshield.training.calibrate import choose_threshold, fake_probability, fit_temperature
from deepshield.training.metrics import (
    bootstrap_intervals,
    compute_metrics,
    expected_calibration_error,
)


def test_perfect_separation() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    m = compute_metrics(labels, probs, threshold=0.5)
    assert (m.auc, m.ap, m.eer, m.accuracy) == (1.0, 1.0, 0.0, 1.0)
    assert m.tpr_at_fpr_1 == 1.0 and (m.n_real, m.n_fake) == (3, 3)


def test_known_ranking_values() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    probs = np.array([0.1, 0.2, 0.3, 0.85, 0.25, 0.6, 0.7, 0.9])
    m = compute_metrics(labels, probs, threshold=0.5)
    assert m.auc == pytest.approx(12 / 16)  # 12 of 16 (fake, real) pairs ordered right
    assert m.tpr_at_fpr_1 == pytest.approx(0.25)  # only the 0.9 fake beats every real
    assert m.accuracy == pytest.approx(6 / 8)
    assert m.eer == pytest.approx(0.25)


def test_metrics_need_both_classes() -> None:
    with pytest.raises(ValueError, match="one real and one fake"):
        compute_metrics(np.array([1, 1]), np.array([0.2, 0.9]), 0.5)


def test_ece_is_low_for_calibrated_and_high_for_overconfident_scores() -> None:
    rng = np.random.default_rng(0)
    probs = rng.uniform(0, 1, 20_000)
    labels = (rng.uniform(0, 1, probs.size) < probs).astype(int)
    assert expected_calibration_error(labels, probs) < 0.02
    overconfident = np.where(probs >= 0.5, 0.99, 0.01)
    assert expected_calibration_error(labels, overconfident) > 0.2


def test_temperature_scaling_recovers_the_true_temperature() -> None:
    rng = np.random.default_rng(1)
    margins = rng.normal(0, 6, 20_000)
    labels = (rng.uniform(0, 1, margins.size) < expit(margins / 3.0)).astype(int)
    temperature = fit_temperature(margins, labels)
    assert temperature == pytest.approx(3.0, rel=0.08)
    calibrated = fake_probability(margins, temperature)
    assert expected_calibration_error(labels, calibrated) < expected_calibration_error(
        labels, fake_probability(margins, 1.0)
    )


def test_threshold_maximises_balanced_accuracy() -> None:
    labels = np.array([0] * 50 + [1] * 50)
    probs = np.concatenate([np.linspace(0.0, 0.3, 50), np.linspace(0.7, 1.0, 50)])
    assert choose_threshold(labels, probs) == 0.5  # separated: the natural cut is kept
    shifted = np.concatenate([np.linspace(0.0, 0.6, 50), np.linspace(0.65, 1.0, 50)])
    assert 0.6 < choose_threshold(labels, shifted) <= 0.65


def test_bootstrap_intervals_cover_the_noise_of_a_small_set() -> None:
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(60), np.ones(60)].astype(int)
    probs = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
    intervals = bootstrap_intervals(labels, probs, 0.5, resamples=300)
    assert set(intervals) == {"auc", "ap", "eer", "tpr_at_fpr_1", "tpr_at_fpr_5", "accuracy", "ece"}
    measured = compute_metrics(labels, probs, 0.5)
    low, high = intervals["auc"]
    assert low < measured.auc < high and 0.05 < high - low < 0.3  # 120 samples: wide
    # a set 16 times larger (the same distribution) gives an interval about 4 times narrower
    big = np.repeat(labels, 16), np.clip(rng.normal(0.35 + 0.3 * np.repeat(labels, 16), 0.2), 0, 1)
    big_low, big_high = bootstrap_intervals(*big, 0.5, resamples=300)["auc"]
    assert 2.5 < (high - low) / (big_high - big_low) < 6
    assert bootstrap_intervals(labels, probs, 0.5, resamples=300) == intervals  # seeded


def test_bootstrap_intervals_of_a_perfect_ranking_are_a_point() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    intervals = bootstrap_intervals(labels, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), 0.5)
    assert intervals["auc"] == (1.0, 1.0) and intervals["accuracy"] == (1.0, 1.0)


def test_weights_count_a_sample_as_often_as_repeating_it() -> None:
    rng = np.random.default_rng(5)
    labels = np.r_[np.zeros(40), np.ones(40)].astype(int)
    probs = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0.001, 0.999)
    counts = rng.integers(1, 4, labels.size)
    weighted = compute_metrics(labels, probs, 0.5, weights=counts.astype(float)).as_dict()
    repeated = compute_metrics(np.repeat(labels, counts), np.repeat(probs, counts), 0.5).as_dict()
    for name in ("auc", "ap", "eer", "tpr_at_fpr_1", "tpr_at_fpr_5", "accuracy", "ece"):
        assert weighted[name] == pytest.approx(repeated[name]), name
    assert weighted["auc"] != pytest.approx(compute_metrics(labels, probs, 0.5).auc)
    margins = np.log(probs / (1 - probs)) * 2
    assert fit_temperature(margins, labels, counts.astype(float)) == pytest.approx(
        fit_temperature(np.repeat(margins, counts), np.repeat(labels, counts)), rel=1e-4
    )
    assert choose_threshold(labels, probs, counts.astype(float)) == choose_threshold(
        np.repeat(labels, counts), np.repeat(probs, counts)
    )
