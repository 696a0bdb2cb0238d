"""Calibration of predicted probabilities: Brier score, expected calibration error, logistic recalibration slope
and intercept, and the mean distance to a known true risk (simulated cohorts' oracle).

Slope and intercept follow Steyerberg (Clinical Prediction Models, ch. 15): slope = b in
logit P(y) = a + b * logit(p); intercept = calibration-in-the-large, a in logit P(y) = a + 1 * logit(p) (offset).
The two small weighted logistic fits are Newton iterations written here because scikit-learn's
LogisticRegression has no offset term; the slope fit is tested against scikit-learn. Each metric's batch form
(a whole bootstrap weight matrix at once) sits just above it: means as matrix products, the fits per resample in
the compiled kernels of `_newton_kernels`.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from bench.base.metrics import _newton_kernels as N
from bench.base.metrics import as_weights, register_metric, weighted_mean, weighted_means
from bench.base.threads import over_row_blocks

NAN = float("nan")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _defined(y: np.ndarray, w: np.ndarray) -> bool:
    pos = np.asarray(y) == 1
    return bool(w[pos].sum() > 0 and w[~pos].sum() > 0)


def logistic_fit(y: np.ndarray, x: np.ndarray | None, offset: np.ndarray, w: np.ndarray,
                 n_iter: int = 50) -> np.ndarray:
    """Weighted maximum-likelihood logistic regression of y on [1, x] with an offset; returns the coefficients.

    Newton-Raphson with step halving; NaN coefficients when the fit does not converge (e.g. separation).
    """
    design = np.ones((len(y), 1)) if x is None else np.column_stack([np.ones(len(y)), x])
    beta = np.zeros(design.shape[1])
    y = (np.asarray(y) == 1).astype(float)

    def nll(b: np.ndarray) -> float:
        eta = design @ b + offset
        return float(np.dot(w, np.logaddexp(0.0, eta) - y * eta))

    cur = nll(beta)
    for _ in range(n_iter):
        eta = design @ beta + offset
        p = expit(eta)
        grad = design.T @ (w * (y - p))
        hess = (design * (w * p * (1 - p))[:, None]).T @ design
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return np.full(design.shape[1], NAN)
        t = 1.0
        # a step is refused only if it worsens the fit beyond the rounding of a sum of n terms; refusing on
        # rounding noise would stop up to half a step short of the optimum
        while t > 1e-8 and nll(beta + t * step) > cur + 1e-12 * (1 + abs(cur)):
            t /= 2
        beta = beta + t * step
        new = nll(beta)
        if abs(cur - new) < 1e-10 * (1 + abs(cur)) and np.max(np.abs(t * step)) < 1e-8:
            return beta
        cur = new
    return beta if np.max(np.abs(step)) < 1e-5 else np.full(design.shape[1], NAN)


def _brier_batch(y, prob, *, weights):
    return weighted_means((np.asarray(prob, float) - (np.asarray(y) == 1)) ** 2, weights)


@register_metric("brier", higher_is_better=False, batch=_brier_batch)
def brier(y: np.ndarray, prob: np.ndarray, *, sample_weight=None) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome."""
    w = as_weights(sample_weight, len(prob))
    return weighted_mean((np.asarray(prob, float) - (np.asarray(y) == 1)) ** 2, w)


def _ece_batch(y, prob, *, weights, n_bins: int = 10):
    prob = np.asarray(prob, dtype=float)
    in_bin = np.clip((prob * n_bins).astype(int), 0, n_bins - 1)[:, None] == np.arange(n_bins)[None, :]
    gap = weights @ (in_bin * prob[:, None]) - weights @ (in_bin * (np.asarray(y) == 1)[:, None])
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.abs(gap).sum(axis=1) / total, NAN)


@register_metric("ece", higher_is_better=False, batch=_ece_batch)
def ece(y: np.ndarray, prob: np.ndarray, *, sample_weight=None, n_bins: int = 10) -> float:
    """Expected calibration error: sum over equal-width probability bins of (bin share) x |mean p - event rate|."""
    prob = np.asarray(prob, dtype=float)
    w = as_weights(sample_weight, len(prob))
    total = w.sum()
    if total <= 0:
        return NAN
    b = np.clip((prob * n_bins).astype(int), 0, n_bins - 1)
    pb = np.bincount(b, weights=w * prob, minlength=n_bins)
    yb = np.bincount(b, weights=w * (np.asarray(y) == 1), minlength=n_bins)
    return float(np.abs(pb - yb).sum() / total)


def _calib_slope_batch(y, prob, *, weights):
    y = (np.asarray(y) == 1).astype(float)
    return over_row_blocks(N.logistic_rows, weights, y, _logit(prob), np.zeros(len(prob)), 2, 1, 50)


@register_metric("calib_slope", higher_is_better=None, batch=_calib_slope_batch)
def calib_slope(y: np.ndarray, prob: np.ndarray, *, sample_weight=None) -> float:
    """b in logit P(y=1) = a + b logit(p); 1 is ideal, < 1 means over-confident predictions."""
    w = as_weights(sample_weight, len(prob))
    if not _defined(y, w):
        return NAN
    return float(logistic_fit(y, _logit(prob), np.zeros(len(prob)), w)[1])


def _calib_intercept_batch(y, prob, *, weights):
    y = (np.asarray(y) == 1).astype(float)
    return over_row_blocks(N.logistic_rows, weights, y, np.zeros(len(prob)), _logit(prob), 1, 0, 50)


@register_metric("calib_intercept", higher_is_better=None, batch=_calib_intercept_batch)
def calib_intercept(y: np.ndarray, prob: np.ndarray, *, sample_weight=None) -> float:
    """Calibration-in-the-large: a in logit P(y=1) = a + logit(p); 0 is ideal, > 0 means risks too low."""
    w = as_weights(sample_weight, len(prob))
    if not _defined(y, w):
        return NAN
    return float(logistic_fit(y, None, _logit(prob), w)[0])


def _mean_abs_diff_batch(risk, true_risk, *, weights):
    d = np.abs(np.asarray(risk, float) - np.asarray(true_risk, float))
    return weighted_means(d.mean(axis=1) if d.ndim == 2 else d, weights)


@register_metric("mean_abs_diff", higher_is_better=False, batch=_mean_abs_diff_batch)
def mean_abs_diff(risk: np.ndarray, true_risk: np.ndarray, *, sample_weight=None) -> float:
    """Mean |predicted risk - true risk| over rows (and over columns for (n, k) class probabilities): the
    calibration error against a simulated cohort's oracle."""
    d = np.abs(np.asarray(risk, float) - np.asarray(true_risk, float))
    if d.ndim == 2:
        d = d.mean(axis=1)
    w = as_weights(sample_weight, len(d))
    return weighted_mean(d, w)
