"""Paired patient-level bootstrap and DeLong's test.

The resample matrix is a pure function of the test set's sorted patient ids and a seed, so every model scored on
the same test set sees the same draws: differences between models get paired intervals, and the intervals can be
recomputed from stored per-ECG predictions without retraining. Resampling patients (not ECGs) keeps each
patient's ECGs together, as the test rows are not independent within a patient.
"""
from __future__ import annotations

import hashlib

import numpy as np
from scipy.stats import norm, rankdata

#: Two-sided level of every interval (95 %).
CI_LEVEL = 0.95


def _ids_seed(sorted_ids: np.ndarray) -> int:
    h = hashlib.sha256("\x1f".join(map(str, sorted_ids)).encode()).digest()
    return int.from_bytes(h[:8], "little")


def bootstrap_indices(patient_ids, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_patients) int matrix: row b lists the patients drawn (with replacement) in resample b, as
    positions in the sorted unique patient ids. Seeded by (seed, hash of the sorted ids)."""
    ids = np.unique(np.asarray(patient_ids).astype(str))
    rng = np.random.default_rng([int(seed), _ids_seed(ids)])
    return rng.integers(0, len(ids), size=(int(n_boot), len(ids)))


def resample_weights(patient_ids, draws: np.ndarray) -> np.ndarray:
    """(n_boot, n_rows) weights: how many times each row's patient was drawn in each resample (a resample is the
    original rows with these multiplicities)."""
    ids = np.asarray(patient_ids).astype(str)
    uniq, inv = np.unique(ids, return_inverse=True)
    counts = np.zeros((draws.shape[0], len(uniq)), dtype=np.int32)
    np.add.at(counts, (np.repeat(np.arange(draws.shape[0]), draws.shape[1]), draws.ravel()), 1)
    return counts[:, inv]


def resample_rows(weights_b: np.ndarray) -> np.ndarray:
    """Row indices of one resample (each row repeated by its weight), for metrics without weight support."""
    return np.repeat(np.arange(len(weights_b)), weights_b)


def percentile_ci(values: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile interval over resamples, ignoring resamples where the metric is undefined (NaN)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(v, [a, 1.0 - a])
    return float(lo), float(hi)


def delong_test(y, score_a, score_b) -> tuple[float, float, float]:
    """DeLong's test for two correlated AUROCs on the same rows (DeLong et al., Biometrics 1988), with the
    fast mid-rank algorithm of Sun & Xu (IEEE SPL 2014). Returns (AUROC_a - AUROC_b, its standard error, two-sided
    p). Written here because neither scikit-learn nor scipy provides it."""
    y = np.asarray(y) == 1
    scores = np.vstack([np.asarray(score_a, float), np.asarray(score_b, float)])
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        return float("nan"), float("nan"), float("nan")
    pos, neg = scores[:, y], scores[:, ~y]
    aucs, v10, v01 = np.empty(2), np.empty((2, m)), np.empty((2, n))
    for k in range(2):
        tx, ty, tz = rankdata(pos[k]), rankdata(neg[k]), rankdata(np.concatenate([pos[k], neg[k]]))  # mid-ranks
        aucs[k] = (tz[:m].sum() - m * (m + 1) / 2.0) / (m * n)
        v10[k] = (tz[:m] - tx) / n  # placement of each positive among the negatives
        v01[k] = 1.0 - (tz[m:] - ty) / m  # placement of each negative among the positives
    cov = np.cov(v10) / m + np.cov(v01) / n
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 0:
        return diff, 0.0, (1.0 if diff == 0 else 0.0)
    se = float(np.sqrt(var))
    return diff, se, float(2 * norm.sf(abs(diff) / se))
