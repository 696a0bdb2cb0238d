"""Patient-clustered AUROC test: Obuchowski's nonparametric variance for clustered ROC data (Biometrics 1997,
53:567-578), paired for two scores on the same ECGs.

DeLong's variance treats every ECG as independent; with several ECGs per patient (correlated scores and labels)
it understates the standard error. Obuchowski's estimator sums DeLong's structural components (each positive's
placement among the negatives, each negative's among the positives) per patient (cluster) before taking their
variance, and adds the covariance between a patient's positive and negative ECGs. With one ECG per patient it is
DeLong's variance exactly. Hand-written because no maintained Python library implements it (scikit-learn, scipy,
statsmodels and lifelines have no clustered ROC test).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata


@dataclass(frozen=True)
class ClusteredAUCTest:
    """AUROC of each score, their difference (a - b), its clustered standard error and two-sided p."""

    auc_a: float
    auc_b: float
    diff: float
    se: float
    p: float


def _clusters(y, cluster):
    """(positive mask, each row's cluster index, positives and negatives per cluster)."""
    y = np.asarray(y) == 1
    _, cl = np.unique(np.asarray(cluster).astype(str), return_inverse=True)
    k = int(cl.max()) + 1 if len(cl) else 0
    return y, cl, np.bincount(cl[y], minlength=k).astype(float), np.bincount(cl[~y], minlength=k).astype(float)


def _components(y: np.ndarray, score: np.ndarray, cluster: np.ndarray, n_clusters: int):
    """(AUROC, per-cluster sums of the positives' placements V10, of the negatives' placements V01)."""
    pos, neg = score[y], score[~y]
    m, n = len(pos), len(neg)
    tx, ty, tz = rankdata(pos), rankdata(neg), rankdata(np.concatenate([pos, neg]))  # mid-ranks: ties count 1/2
    auc = (tz[:m].sum() - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:m] - tx) / n  # share of negatives below each positive
    v01 = 1.0 - (tz[m:] - ty) / m  # share of positives above each negative
    return (auc, np.bincount(cluster[y], weights=v10, minlength=n_clusters),
            np.bincount(cluster[~y], weights=v01, minlength=n_clusters))


def _covariance(a, b, m_i: np.ndarray, n_i: np.ndarray, m: int, n: int) -> float:
    """Obuchowski's covariance of two AUROC estimates (a == b: the variance) from their cluster components."""
    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = a, b
    i10, i01, i = int((m_i > 0).sum()), int((n_i > 0).sum()), len(m_i)
    ra10, rb10 = v10a - m_i * auc_a, v10b - m_i * auc_b  # zero in clusters without positives
    ra01, rb01 = v01a - n_i * auc_a, v01b - n_i * auc_b
    s10 = i10 / ((i10 - 1) * m) * float(ra10 @ rb10)
    s01 = i01 / ((i01 - 1) * n) * float(ra01 @ rb01)
    s11 = i / (i - 1) * float(ra10 @ rb01 + rb10 @ ra01) / 2.0
    return s10 / m + s01 / n + 2.0 * s11 / (m * n)


def clustered_auc_test(y, score_a, score_b, cluster) -> ClusteredAUCTest:
    """Paired test of two AUROCs on the same rows, rows clustered by `cluster` (patient ids): difference a - b,
    its Obuchowski standard error and the two-sided normal p. NaN where either class has fewer than two clusters."""
    y, cl, m_i, n_i = _clusters(y, cluster)
    m, n = int(y.sum()), int((~y).sum())
    if (m_i > 0).sum() < 2 or (n_i > 0).sum() < 2:
        nan = float("nan")
        return ClusteredAUCTest(nan, nan, nan, nan, nan)
    ca, cb = (_components(y, np.asarray(s, dtype=float), cl, len(m_i)) for s in (score_a, score_b))
    var = (_covariance(ca, ca, m_i, n_i, m, n) + _covariance(cb, cb, m_i, n_i, m, n)
           - 2.0 * _covariance(ca, cb, m_i, n_i, m, n))
    diff = float(ca[0] - cb[0])
    if var <= 0:
        return ClusteredAUCTest(float(ca[0]), float(cb[0]), diff, 0.0, 1.0 if diff == 0 else 0.0)
    se = float(np.sqrt(var))
    return ClusteredAUCTest(float(ca[0]), float(cb[0]), diff, se, float(2 * norm.sf(abs(diff) / se)))


def clustered_auc_se(y, score, cluster) -> float:
    """Obuchowski standard error of one AUROC, rows clustered by `cluster`."""
    y, cl, m_i, n_i = _clusters(y, cluster)
    if (m_i > 0).sum() < 2 or (n_i > 0).sum() < 2:
        return float("nan")
    c = _components(y, np.asarray(score, dtype=float), cl, len(m_i))
    return float(np.sqrt(max(_covariance(c, c, m_i, n_i, int(y.sum()), int((~y).sum())), 0.0)))
