"""Compiled per-resample kernels of the right-censored survival metrics (bench/base/metrics/survival.py).

Times and risks are sorted once per call; per resample the censoring Kaplan-Meier curve is one pass over the
tied-time groups, Harrell's and Uno's C a Fenwick-tree sweep over descending time (O(n log n) instead of the
plain function's n x n comparison), the time-dependent AUC, IPCW Brier and decile calibration one pass each;
blocks of resamples run on threads (`_threads`). numba, because no survival library takes many weight vectors at
once. Each kernel follows its plain metric step for step (the reference it is tested against,
tests/test_metrics_batch.py).
"""
from __future__ import annotations

import numba
import numpy as np

from bench.base.metrics._rank_kernels import auroc_one


def time_groups(time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct times ascending, stable order of rows by time, distinct-time index of each row)."""
    uniq, inv = np.unique(np.asarray(time, dtype=float), return_inverse=True)
    return uniq, np.argsort(inv, kind="mergesort"), inv.astype(np.int64)


@numba.njit(cache=True, nogil=True)
def censoring_left_limits(w, event, time_group, n_times):
    """G(t-) of the reverse Kaplan-Meier estimate at each distinct time (index n_times: after the last one), as
    `survival.censoring_survival` computes it: entry g is the product of the factors of distinct times < g."""
    total = np.zeros(n_times)
    d = np.zeros(n_times)
    for i in range(len(w)):
        total[time_group[i]] += w[i]
        if event[i]:
            d[time_group[i]] += w[i]
    out = np.empty(n_times + 1)
    out[0] = 1.0
    at_risk = np.zeros(n_times)
    acc = 0.0
    for g in range(n_times - 1, -1, -1):
        acc += total[g]
        at_risk[g] = acc
    for g in range(n_times):
        left = at_risk[g] - d[g]
        factor = 1.0 - (total[g] - d[g]) / left if left > 0 else 1.0
        out[g + 1] = out[g] * factor
    return out


@numba.njit(cache=True, nogil=True)
def _inverse(g):
    return 1.0 / g if g > 0 else 0.0


def tie_bounds(risk: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by risk: each row's position, and per row i the counts of rows j with risk_i - risk_j > tol
    (concordant with i) and >= -tol (concordant or tied), exactly as `survival._concordance` compares them."""
    order = np.argsort(risk, kind="mergesort")
    position = np.empty(len(risk), dtype=np.int64)
    position[order] = np.arange(len(risk))
    below, upto = _tie_bounds(np.asarray(risk, dtype=float), risk[order], tol)
    return position, below, upto


@numba.njit(cache=True)
def _tie_bounds(risk, sorted_risk, tol):
    n = len(risk)
    below = np.empty(n, dtype=np.int64)
    upto = np.empty(n, dtype=np.int64)
    for i in range(n):
        lo, hi = 0, n  # first position where risk_i - r <= tol (differences fall as r grows)
        while lo < hi:
            mid = (lo + hi) // 2
            if risk[i] - sorted_risk[mid] > tol:
                lo = mid + 1
            else:
                hi = mid
        below[i] = lo
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if risk[i] - sorted_risk[mid] >= -tol:
                lo = mid + 1
            else:
                hi = mid
        upto[i] = lo
    return below, upto


@numba.njit(cache=True, nogil=True)
def concordance_one(w, weight_i, time, desc, event, position, below, upto):
    """sum_ij weight_i w_j comparable_ij concordant_ij / sum_ij weight_i w_j comparable_ij, by a sweep over
    descending time with a Fenwick tree of w over risk positions: j is comparable with event row i when
    T_j > T_i, or T_j == T_i and j is censored; concordant counts 1, tied risk 1/2. `desc`: rows by time,
    latest first; `position`, `below`, `upto`: from `tie_bounds`."""
    n = len(w)
    tree = np.zeros(n + 1)
    inserted = 0.0
    num = 0.0
    den = 0.0
    start = 0
    while start < n:
        stop = start
        while stop < n and time[desc[stop]] == time[desc[start]]:
            stop += 1
        for phase in range(3):  # censored rows join, event rows are scored, then event rows join
            for k in range(start, stop):
                i = desc[k]
                if phase == 1:
                    if event[i] and weight_i[i] > 0:
                        p_below = 0.0
                        p_upto = 0.0
                        j = below[i]
                        while j > 0:
                            p_below += tree[j]
                            j -= j & -j
                        j = upto[i]
                        while j > 0:
                            p_upto += tree[j]
                            j -= j & -j
                        den += weight_i[i] * inserted
                        num += weight_i[i] * (p_below + 0.5 * (p_upto - p_below))
                elif event[i] == (phase == 2) and w[i] > 0:
                    inserted += w[i]
                    j = position[i] + 1
                    while j <= n:
                        tree[j] += w[i]
                        j += j & -j
        start = stop
    return num / den if den > 0 else np.nan


@numba.njit(cache=True, nogil=True)
def harrell_rows(weights, time, desc, event, position, below, upto):
    out = np.empty(weights.shape[0])
    for b in range(weights.shape[0]):
        w = weights[b]
        out[b] = concordance_one(w, w * event, time, desc, event, position, below, upto)
    return out


@numba.njit(cache=True, nogil=True)
def uno_rows(weights, time, desc, event, keep, time_group, n_times, position, below, upto):
    """Uno's C: event rows weighted by w G(T_i-)^-2, G the censoring curve of the same resample."""
    out = np.empty(weights.shape[0])
    for b in range(weights.shape[0]):
        w = weights[b]
        g = censoring_left_limits(w, event, time_group, n_times)
        weight_i = np.empty(len(w))
        for i in range(len(w)):
            weight_i[i] = w[i] * keep[i] * _inverse(g[time_group[i]]) ** 2
        out[b] = concordance_one(w, weight_i, time, desc, event, position, below, upto)
    return out


@numba.njit(cache=True, nogil=True)
def dynamic_auc_rows(weights, case, control, event, time_group, n_times, order, group, n_groups):
    """Cumulative/dynamic AUC: cases weighted w / G(T_i-), controls w, AUROC of the risk (order/group: its ties)."""
    out = np.empty(weights.shape[0])
    for b in range(weights.shape[0]):
        w = weights[b]
        g = censoring_left_limits(w, event, time_group, n_times)
        weight = np.zeros(len(w))
        for i in range(len(w)):
            if case[i]:
                weight[i] = w[i] * _inverse(g[time_group[i]])
            elif control[i]:
                weight[i] = w[i]
        out[b] = auroc_one(weight, case, order, group, n_groups)
    return out


@numba.njit(cache=True, nogil=True)
def brier_rows(weights, time, event, surv, times, times_group, time_group, n_times, trapezoid):
    """IPCW Brier score at each of `times` (surv: (n, len(times))) per weight row, as `survival._brier_terms`;
    with `trapezoid`, the integrated score over the times up to the resample's last observed time (NaN with
    fewer than two), else the score at the single time."""
    n_boot, k_times = weights.shape[0], len(times)
    out = np.full(n_boot, np.nan)
    for b in range(n_boot):
        w = weights[b]
        total = w.sum()
        if total <= 0:
            continue
        g = censoring_left_limits(w, event, time_group, n_times)
        last = -np.inf
        for i in range(len(w)):
            if w[i] > 0 and time[i] > last:
                last = time[i]
        rows = np.flatnonzero(w)
        g_obs = np.empty(len(rows))
        for m in range(len(rows)):
            g_obs[m] = _inverse(g[time_group[rows[m]]])
        scores = np.empty(k_times)
        kept = np.zeros(k_times, dtype=np.bool_)
        for k in range(k_times):
            kept[k] = times[k] <= last or not trapezoid
            if not kept[k]:
                continue
            g_t = _inverse(g[times_group[k]])
            acc = 0.0
            for m in range(len(rows)):
                i = rows[m]
                case = event[i] and time[i] <= times[k]
                control = time[i] > times[k] or (time[i] == times[k] and not event[i])
                s = surv[i, k]
                acc += w[i] * (s ** 2 * case * g_obs[m] + (1.0 - s) ** 2 * control * g_t)
            scores[k] = acc / total
        if not trapezoid:
            out[b] = scores[0]
            continue
        idx = np.flatnonzero(kept)
        if len(idx) < 2:
            continue
        area = 0.0
        for m in range(len(idx) - 1):
            area += (times[idx[m + 1]] - times[idx[m]]) * (scores[idx[m + 1]] + scores[idx[m]]) / 2.0
        out[b] = area / (times[idx[-1]] - times[idx[0]])
    return out


@numba.njit(cache=True, nogil=True)
def km_calibration_rows(weights, time, time_order, event, risk, risk_order, t, n_groups):
    """Weighted mean over risk groups (weighted-rank deciles for 10) of |mean predicted risk - Kaplan-Meier risk
    by t|, as `survival.km_calibration_error`."""
    out = np.full(weights.shape[0], np.nan)
    for b in range(weights.shape[0]):
        w = weights[b]
        total = 0.0
        for i in risk_order:
            total += w[i]
        if not total > 0:
            continue
        member = np.empty(len(w), dtype=np.int64)
        cw = 0.0
        for i in risk_order:
            cw += w[i]
            mid = (cw - w[i] / 2.0) / total
            member[i] = min(int(mid * n_groups), n_groups - 1)
        at_risk = np.zeros(n_groups)
        weighted_risk = np.zeros(n_groups)
        for i in range(len(w)):
            if w[i] > 0:
                at_risk[member[i]] += w[i]
                weighted_risk[member[i]] += w[i] * risk[i]
        group_weight = at_risk.copy()
        surv = np.ones(n_groups)
        d = np.zeros(n_groups)
        leaving = np.zeros(n_groups)
        k = 0
        while k < len(time_order) and time[time_order[k]] <= t:
            stop = k
            while stop < len(time_order) and time[time_order[stop]] == time[time_order[k]]:
                i = time_order[stop]
                if w[i] > 0:
                    leaving[member[i]] += w[i]
                    if event[i]:
                        d[member[i]] += w[i]
                stop += 1
            for m in range(n_groups):
                if d[m] > 0:
                    surv[m] *= 1.0 - d[m] / at_risk[m]
                at_risk[m] -= leaving[m]
                d[m] = 0.0
                leaving[m] = 0.0
            k = stop
        num = 0.0
        den = 0.0
        for m in range(n_groups):
            if group_weight[m] > 0:
                num += group_weight[m] * abs(weighted_risk[m] / group_weight[m] - (1.0 - surv[m]))
                den += group_weight[m]
        out[b] = num / den
    return out
