"""Right-censored survival metrics: Harrell's and Uno's C, cumulative/dynamic AUC, IPCW Brier score.

Why hand-written: every metric takes integer bootstrap weights and is called hundreds of times per test set.
lifelines' KaplanMeierFitter costs ~8 ms a fit (pandas overhead) and these metrics need one censoring-distribution
fit each, so the bootstrap of one model would take about a minute; scikit-survival is an optional dependency.
The estimators follow scikit-survival's definitions (Uno et al. 2011; Uno et al. 2007 / Hung & Chiang 2010;
Graf et al. 1999) and are tested against lifelines and scikit-survival.

Conventions: `risk` is higher for earlier events. A pair (i, j) is comparable when i has the event and
T_i < T_j, or T_i == T_j and j is censored. The censoring distribution G is the Kaplan-Meier estimate with the
roles of events and censorings swapped (events at a tied time leave the risk set first), evaluated just before
the time of interest, G(t-): the probability of still being under observation at t. With no event tied to a
censoring time this equals scikit-survival's G(t). Controls at t are the rows with T > t, or censored at T == t
(observed event-free through t), so a cohort administratively censored exactly at the horizon still has
controls at the horizon.

Each metric's batch form (a whole bootstrap weight matrix at once) sits just above it and runs the compiled
kernels of `_survival_kernels` on inputs sorted once.
"""
from __future__ import annotations

import numpy as np

from bench.base.metrics import _survival_kernels as K
from bench.base.metrics import as_weights, register_metric, weighted_mean
from bench.base.metrics._rank_kernels import tie_groups
from bench.base.threads import over_row_blocks
from bench.base.metrics.classification import auroc

NAN = float("nan")
_TIE_TOL = 1e-8
_CHUNK = 2048


def km_table(time: np.ndarray, event: np.ndarray, w: np.ndarray):
    """Distinct times with weighted (at risk, events, censored) counts."""
    uniq, inv = np.unique(np.asarray(time, dtype=float), return_inverse=True)
    ev = np.asarray(event, dtype=bool)
    total = np.bincount(inv, weights=w, minlength=len(uniq))
    d = np.bincount(inv, weights=w * ev, minlength=len(uniq))
    at_risk = np.cumsum(total[::-1])[::-1]
    return uniq, at_risk, d, total - d


def _step(uniq: np.ndarray, values: np.ndarray, at: np.ndarray, left: bool) -> np.ndarray:
    """Evaluate a right-continuous step function (1 before the first time) at `at`, or its left limit."""
    idx = np.searchsorted(uniq, np.asarray(at, dtype=float), side="left" if left else "right") - 1
    out = np.ones(np.shape(at))
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


def kaplan_meier(time, event, at, *, sample_weight=None) -> np.ndarray:
    """Kaplan-Meier survival S(t) = P(T > t) at the times `at` (held at its last value beyond the data)."""
    w = as_weights(sample_weight, len(time))
    uniq, r, d, _ = km_table(time, event, w)
    factor = np.where(r > 0, 1.0 - np.divide(d, r, out=np.zeros_like(d), where=r > 0), 1.0)
    return _step(uniq, np.cumprod(factor), np.atleast_1d(at), left=False)


def censoring_survival(time, event, at, *, sample_weight=None) -> np.ndarray:
    """G(t-) = P(censoring time >= t), the reverse Kaplan-Meier estimate, at the times `at`."""
    w = as_weights(sample_weight, len(time))
    uniq, r, d, c = km_table(time, event, w)
    left = r - d
    factor = np.where(left > 0, 1.0 - np.divide(c, left, out=np.zeros_like(c), where=left > 0), 1.0)
    return _step(uniq, np.cumprod(factor), np.atleast_1d(at), left=True)


def _inverse(g: np.ndarray) -> np.ndarray:
    return np.divide(1.0, g, out=np.zeros_like(g), where=g > 0)


def _concordance(time, event, risk, w, weight_i) -> float:
    """sum_ij weight_i w_j comparable_ij concordant_ij / sum_ij weight_i w_j comparable_ij (over event rows i)."""
    rows = np.flatnonzero(event & (weight_i > 0))
    num = den = 0.0
    for start in range(0, len(rows), _CHUNK):
        i = rows[start:start + _CHUNK]
        ti = time[i][:, None]
        comparable = (time[None, :] > ti) | ((time[None, :] == ti) & ~event[None, :])
        diff = risk[i][:, None] - risk[None, :]
        tie = np.abs(diff) <= _TIE_TOL
        conc = np.where(tie, 0.5, (diff > 0).astype(float))
        cw = comparable * w[None, :]
        den += float(weight_i[i] @ cw.sum(1))
        num += float(weight_i[i] @ (cw * conc).sum(1))
    return num / den if den > 0 else NAN


def _prepare(time, event, risk, sample_weight, horizon):
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    risk = np.asarray(risk, dtype=float)
    w = as_weights(sample_weight, len(time))
    if horizon is not None:
        event = event & (time <= horizon)
        time = np.minimum(time, horizon)
    return time, event, risk, w


def _latest_first(time: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.argsort(time, kind="mergesort")[::-1])


def _harrell_c_batch(time, event, risk, *, weights, horizon: float | None = None):
    time, event, risk, _ = _prepare(time, event, risk, None, horizon)
    return over_row_blocks(K.harrell_rows, weights, time, _latest_first(time), event, *K.tie_bounds(risk, _TIE_TOL))


@register_metric("harrell_c", higher_is_better=True, batch=_harrell_c_batch)
def harrell_c(time, event, risk, *, sample_weight=None, horizon: float | None = None) -> float:
    """Harrell's concordance index; with `horizon`, follow-up is cut there (later events count as censored)."""
    time, event, risk, w = _prepare(time, event, risk, sample_weight, horizon)
    return _concordance(time, event, risk, w, w * event)


def _uno_c_batch(time, event, risk, *, weights, tau: float | None = None):
    time, event, risk, _ = _prepare(time, event, risk, None, None)
    uniq, _, time_group = K.time_groups(time)
    keep = event if tau is None else event & (time < tau)
    return over_row_blocks(K.uno_rows, weights, time, _latest_first(time), event, keep, time_group, len(uniq),
                           *K.tie_bounds(risk, _TIE_TOL))


@register_metric("uno_c", higher_is_better=True, batch=_uno_c_batch)
def uno_c(time, event, risk, *, sample_weight=None, tau: float | None = None) -> float:
    """Uno's IPCW concordance up to `tau`: event rows i with T_i < tau weighted by G(T_i-)^-2."""
    time, event, risk, w = _prepare(time, event, risk, sample_weight, None)
    g = censoring_survival(time, event, time, sample_weight=w)
    keep = event if tau is None else event & (time < tau)
    return _concordance(time, event, risk, w, w * keep * _inverse(g) ** 2)


def _cumulative_dynamic_auc_batch(time, event, risk, *, weights, t: float):
    time, event, risk, _ = _prepare(time, event, risk, None, None)
    case = event & (time <= t)
    control = (time > t) | ((time == t) & ~event)
    uniq, _, time_group = K.time_groups(time)
    return over_row_blocks(K.dynamic_auc_rows, weights, case, control, event, time_group, len(uniq), *tie_groups(risk))


@register_metric("cumulative_dynamic_auc", higher_is_better=True, batch=_cumulative_dynamic_auc_batch)
def cumulative_dynamic_auc(time, event, risk, *, sample_weight=None, t: float) -> float:
    """AUC at time t between cases (event by t, IPCW-weighted) and controls (event-free beyond t)."""
    time, event, risk, w = _prepare(time, event, risk, sample_weight, None)
    case = event & (time <= t)
    control = (time > t) | ((time == t) & ~event)
    g = censoring_survival(time, event, time, sample_weight=w)
    weight = np.where(case, w * _inverse(g), w)
    keep = (case | control) & (weight > 0)
    return auroc(case[keep].astype(int), risk[keep], sample_weight=weight[keep])


def _brier_terms(time, event, w, surv: np.ndarray, times: np.ndarray) -> np.ndarray:
    """IPCW Brier score at each of `times`; surv has shape (n, len(times))."""
    g_obs = _inverse(censoring_survival(time, event, time, sample_weight=w))
    g_t = _inverse(censoring_survival(time, event, times, sample_weight=w))
    case = event[:, None] & (time[:, None] <= times[None, :])
    control = (time[:, None] > times[None, :]) | ((time[:, None] == times[None, :]) & ~event[:, None])
    terms = surv ** 2 * case * g_obs[:, None] + (1.0 - surv) ** 2 * control * g_t[None, :]
    return (w @ terms) / w.sum()


def _brier_batch(time, event, surv, times, weights, integrated: bool) -> np.ndarray:
    uniq, _, time_group = K.time_groups(time)
    times = np.asarray(times, dtype=float)
    return over_row_blocks(K.brier_rows, weights, time, event, np.ascontiguousarray(surv, dtype=float), times,
                           np.searchsorted(uniq, times, side="left"), time_group, len(uniq), integrated)


def _brier_at_batch(time, event, surv_t, *, weights, t: float):
    time, event, surv_t, _ = _prepare(time, event, surv_t, None, None)
    return _brier_batch(time, event, surv_t[:, None], [float(t)], weights, integrated=False)


@register_metric("brier_at", higher_is_better=False, batch=_brier_at_batch)
def brier_at(time, event, surv_t, *, sample_weight=None, t: float) -> float:
    """IPCW Brier score of the predicted survival S(t) at time t (Graf et al. 1999)."""
    time, event, surv_t, w = _prepare(time, event, surv_t, sample_weight, None)
    if w.sum() <= 0:
        return NAN
    return float(_brier_terms(time, event, w, surv_t[:, None], np.array([float(t)]))[0])


def _integrated_brier_batch(time, event, surv, *, weights, times):
    time, event, _, _ = _prepare(time, event, np.zeros(len(time)), None, None)
    return _brier_batch(time, event, surv, times, weights, integrated=True)


@register_metric("integrated_brier", higher_is_better=False, batch=_integrated_brier_batch)
def integrated_brier(time, event, surv, *, sample_weight=None, times) -> float:
    """Trapezoid integral of the IPCW Brier score over `times` (columns of surv) / (last - first time).

    Times after the last observed time (no one left to judge) are dropped; NaN with fewer than two left.
    """
    time, event, _, w = _prepare(time, event, np.zeros(len(time)), sample_weight, None)
    times = np.asarray(times, dtype=float)
    surv = np.asarray(surv, dtype=float)
    keep = times <= time[w > 0].max() if (w > 0).any() else np.zeros(len(times), bool)
    if keep.sum() < 2:
        return NAN
    bs = _brier_terms(time, event, w, surv[:, keep], times[keep])
    ts = times[keep]
    return float(np.trapezoid(bs, ts) / (ts[-1] - ts[0]))


def risk_groups(risk: np.ndarray, w: np.ndarray, n_groups: int) -> np.ndarray:
    """Group index 0..n_groups-1 by weighted rank of risk (deciles for 10); copies of a row share a group."""
    order = np.argsort(risk, kind="mergesort")
    cw = np.cumsum(w[order])
    mid = (cw - w[order] / 2.0) / cw[-1]
    g = np.empty(len(risk), dtype=int)
    g[order] = np.minimum((mid * n_groups).astype(int), n_groups - 1)
    return g


def km_calibration_table(time, event, risk, *, sample_weight=None, t: float, n_groups: int = 10):
    """Per risk group: weight, mean predicted risk at t, Kaplan-Meier observed risk 1 - S(t)."""
    time, event, risk, w = _prepare(time, event, risk, sample_weight, None)
    if not (w > 0).any():
        return np.zeros((0, 4))
    g = risk_groups(risk, w, n_groups)
    rows = []
    for k in range(n_groups):
        m = (g == k) & (w > 0)
        if not m.any():
            continue
        obs = 1.0 - kaplan_meier(time[m], event[m], t, sample_weight=w[m])[0]
        rows.append((k, float(w[m].sum()), weighted_mean(risk[m], w[m]), float(obs)))
    return np.array(rows, dtype=float).reshape(-1, 4)


def _km_calibration_error_batch(time, event, risk, *, weights, t: float, n_groups: int = 10):
    time, event, risk, _ = _prepare(time, event, risk, None, None)
    return over_row_blocks(K.km_calibration_rows, weights, time, np.argsort(time, kind="mergesort"), event, risk,
                           np.argsort(risk, kind="mergesort"), float(t), int(n_groups))


@register_metric("km_calibration_error", higher_is_better=False, batch=_km_calibration_error_batch)
def km_calibration_error(time, event, risk, *, sample_weight=None, t: float, n_groups: int = 10) -> float:
    """Calibration error at t: weighted mean over risk deciles of |mean predicted risk - Kaplan-Meier risk|."""
    tab = km_calibration_table(time, event, risk, sample_weight=sample_weight, t=t, n_groups=n_groups)
    if len(tab) == 0:
        return NAN
    return float(np.dot(tab[:, 1], np.abs(tab[:, 2] - tab[:, 3])) / tab[:, 1].sum())
