"""Temperature scaling (Guo et al. 2017) and the decision threshold, both fitted on the
validation split. The classifier's fake-vs-real margin ``z = log(p_fake / p_real)`` (the
exported graph's ``logit_fake - logit_real``) becomes ``p_fake = sigmoid(z / T)``."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit


def fake_probability(margins: np.ndarray, temperature: float) -> np.ndarray:
    return np.asarray(expit(np.asarray(margins, dtype=np.float64) / temperature))


def fit_temperature(
    margins: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """T > 0 minimising the (weighted) negative log-likelihood of the labels."""
    margins = np.asarray(margins, dtype=np.float64)
    signs = np.where(np.asarray(labels) == 1, 1.0, -1.0)

    def nll(log_t: float) -> float:
        return float(-np.average(log_expit(signs * margins / np.exp(log_t)), weights=weights))

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(50.0)), method="bounded")
    return float(np.exp(result.x))


def choose_threshold(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Threshold on calibrated p_fake maximising balanced accuracy (Youden's J) on validation,
    searched on a 0.01 grid; among equally good thresholds the one nearest 0.5 wins, so a
    cleanly separated split keeps the natural probability cut."""
    labels = np.asarray(labels) == 1
    probs = np.asarray(probs, dtype=np.float64)
    weights = np.ones(len(probs)) if weights is None else np.asarray(weights, dtype=np.float64)
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)

    def rate(chosen: np.ndarray) -> np.ndarray:
        return np.array([np.average(probs[chosen] >= t, weights=weights[chosen]) for t in grid])

    tpr, fpr = rate(labels), rate(~labels)
    j = tpr - fpr
    best = grid[j >= j.max() - 1e-12]
    return float(best[np.argmin(np.abs(best - 0.5))])
