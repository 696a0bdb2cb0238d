"""Compiled per-resample kernels of the rank metrics (AUROC, average precision, sensitivity at a specificity).

The scores are sorted once per call and cut into groups of tied scores; a resample then only sums its weights per
group and walks the groups in order, O(n) instead of a sort per resample (blocks of resamples on threads, see
`_threads`). Written with numba because no library computes weighted rank metrics for many weight vectors at
once; each kernel follows its plain metric's definition step for step (bench/base/metrics/classification.py),
which is the reference it is tested against.
"""
from __future__ import annotations

import numba
import numpy as np


def tie_groups(score: np.ndarray, *, descending: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """(row order by score, tied-score group of each position in that order, number of groups)."""
    order = np.argsort(np.asarray(score, dtype=float), kind="mergesort")
    if descending:
        order = order[::-1]
    s = np.asarray(score, dtype=float)[order]
    group = np.zeros(len(s), dtype=np.int64)
    if len(s) > 1:
        group[1:] = np.cumsum(s[1:] != s[:-1])
    return np.ascontiguousarray(order), group, int(group[-1]) + 1 if len(s) else 0


@numba.njit(cache=True, nogil=True)
def group_sums(w, pos, order, group, n_groups):
    """Per tied-score group, the weight of positive and of negative rows."""
    wp = np.zeros(n_groups)
    wn = np.zeros(n_groups)
    for k in range(len(order)):
        i = order[k]
        if pos[i]:
            wp[group[k]] += w[i]
        else:
            wn[group[k]] += w[i]
    return wp, wn


@numba.njit(cache=True, nogil=True)
def auroc_one(w, pos, order, group, n_groups):
    """Weighted Mann-Whitney AUROC (ties 1/2) of one weight vector; NaN with one class only."""
    wp, wn = group_sums(w, pos, order, group, n_groups)
    n_pos = wp.sum()
    n_neg = wn.sum()
    if n_pos == 0 or n_neg == 0:
        return np.nan
    below = 0.0
    acc = 0.0
    for g in range(n_groups):
        acc += wp[g] * (below + 0.5 * wn[g])
        below += wn[g]
    return acc / (n_pos * n_neg)


@numba.njit(cache=True, nogil=True)
def auroc_rows(weights, pos, order, group, n_groups):
    out = np.empty(weights.shape[0])
    for b in range(weights.shape[0]):
        out[b] = auroc_one(weights[b], pos, order, group, n_groups)
    return out


@numba.njit(cache=True, nogil=True)
def average_precision_rows(weights, pos, order_desc, group, n_groups):
    """scikit-learn's average precision: sum over thresholds (descending) of recall increase x precision."""
    out = np.empty(weights.shape[0])
    for b in range(weights.shape[0]):
        wp, wn = group_sums(weights[b], pos, order_desc, group, n_groups)
        n_pos = wp.sum()
        if n_pos == 0 or wn.sum() == 0:
            out[b] = np.nan
            continue
        tp = 0.0
        fp = 0.0
        prev_recall = 0.0
        acc = 0.0
        for g in range(n_groups):
            tp += wp[g]
            fp += wn[g]
            precision = tp / (tp + fp) if tp + fp != 0 else 0.0
            recall = tp / n_pos
            acc += (recall - prev_recall) * precision
            prev_recall = recall
        out[b] = max(0.0, acc)
    return out


@numba.njit(cache=True, nogil=True)
def sens_at_spec_rows(weights, pos, order_desc, group, n_groups, max_fpr):
    """Highest true-positive rate over thresholds (descending) whose false-positive rate is at most max_fpr."""
    out = np.empty(weights.shape[0])
    for b in range(weights.shape[0]):
        wp, wn = group_sums(weights[b], pos, order_desc, group, n_groups)
        n_pos = wp.sum()
        n_neg = wn.sum()
        if n_pos == 0 or n_neg == 0:
            out[b] = np.nan
            continue
        tp = 0.0
        fp = 0.0
        best = 0.0
        for g in range(n_groups):
            tp += wp[g]
            fp += wn[g]
            if fp / n_neg <= max_fpr:
                best = max(best, tp / n_pos)
        out[b] = best
    return out
