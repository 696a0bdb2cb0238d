"""Calibration of predicted risk at a time horizon for right-censored outcomes (Austin, Harrell & van Klaveren,
Stat Med 2020, "Graphical calibration curves and the integrated calibration index (ICI) for survival models").

The observed risk of each row is smoothed by a Cox model of the outcome on a restricted cubic spline (3 knots, at
the 10th/50th/90th percentiles) of cloglog(predicted risk at t); ICI is the mean and E50 the median of
|predicted - smoothed observed risk|. The calibration slope is the Cox coefficient of cloglog(predicted risk):
1 when the predictions are right, below 1 when they are too extreme.

The weighted Breslow Cox fit is a few lines of Newton-Raphson here because it runs once per bootstrap resample
(lifelines' CoxPHFitter costs tens of ms a fit); Breslow ties make integer weights identical to duplicated
rows. Tested against lifelines' CoxPHFitter. The batch forms (a whole bootstrap weight matrix at once) run the
same fit per resample in the compiled kernels of `_newton_kernels`.
"""
from __future__ import annotations

import hashlib
import weakref

import numpy as np

from bench.base.metrics import _newton_kernels as N
from bench.base.metrics import as_weights, register_metric
from bench.base.threads import over_row_blocks
from bench.base.metrics.survival import _prepare

NAN = float("nan")
_EPS = 1e-6


def cloglog_risk(risk: np.ndarray) -> np.ndarray:
    """log(-log(1 - risk)), the linear-predictor scale of a proportional-hazards risk."""
    r = np.clip(np.asarray(risk, dtype=float), _EPS, 1 - _EPS)
    return np.log(-np.log1p(-r))


def rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline basis (Harrell's parametrisation, normalised by (k_last - k_first)^2): x plus
    len(knots) - 2 nonlinear columns, linear beyond the outer knots."""
    k = np.asarray(knots, dtype=float)
    cols = [x]
    scale = (k[-1] - k[0]) ** 2
    pos3 = lambda u: np.maximum(u, 0.0) ** 3  # noqa: E731
    for j in range(len(k) - 2):
        cols.append((pos3(x - k[j]) - pos3(x - k[-2]) * (k[-1] - k[j]) / (k[-1] - k[-2])
                     + pos3(x - k[-1]) * (k[-2] - k[j]) / (k[-1] - k[-2])) / scale)
    return np.column_stack(cols)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q) -> np.ndarray:
    """np.quantile (linear interpolation) of the rows repeated by their weights, without repeating them."""
    order = np.argsort(x, kind="mergesort")
    xs, cw = x[order], np.cumsum(w[order])
    pos = np.asarray(q, dtype=float) * (cw[-1] - 1)
    lo = np.floor(pos)
    at_lo = xs[np.minimum(np.searchsorted(cw, lo, side="right"), len(xs) - 1)]
    at_hi = xs[np.minimum(np.searchsorted(cw, np.minimum(lo + 1, cw[-1] - 1), side="right"), len(xs) - 1)]
    return at_lo + (pos - lo) * (at_hi - at_lo)


def cox_breslow(time, event, x, w, n_iter: int = 60):
    """Weighted Cox PH fit (Breslow ties). Returns (beta, event_times, baseline cumulative hazard at them), or
    None when it does not converge (e.g. no events, separation)."""
    x = np.asarray(x, dtype=float).reshape(len(time), -1)
    order = np.argsort(time, kind="mergesort")
    t, e, x, w = time[order], event[order], x[order], w[order]
    first = np.searchsorted(t, t, side="left")  # risk set of row i = rows from first[i] on (T >= T_i)
    ev = e & (w > 0)
    if not ev.any():
        return None
    mu, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1.0
    z = (x - mu) / sd
    p = z.shape[1]
    beta = np.zeros(p)

    def parts(b):
        r = w * np.exp(np.clip(z @ b, -50, 50))
        s0 = np.cumsum(r[::-1])[::-1][first]
        s1 = np.cumsum((r[:, None] * z)[::-1], axis=0)[::-1][first]
        ll = float(np.sum(w[ev] * (z[ev] @ b - np.log(s0[ev]))))
        return r, s0, s1, ll

    r, s0, s1, ll = parts(beta)
    for _ in range(n_iter):
        zbar = s1[ev] / s0[ev, None]
        grad = (w[ev, None] * (z[ev] - zbar)).sum(0)
        zz = (r[:, None, None] * z[:, :, None] * z[:, None, :])
        s2 = np.cumsum(zz[::-1], axis=0)[::-1][first][ev]
        hess = (w[ev, None, None] * (s2 / s0[ev, None, None] - zbar[:, :, None] * zbar[:, None, :])).sum(0)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        s = 1.0
        while s > 1e-8:
            cand = parts(beta + s * step)
            if cand[3] >= ll - 1e-12 * (1 + abs(ll)):  # refuse only beyond rounding (see logistic_fit)
                break
            s /= 2
        beta = beta + s * step
        r, s0, s1, new_ll = cand
        if abs(new_ll - ll) < 1e-10 * (1 + abs(ll)) and np.max(np.abs(s * step)) < 1e-7:
            ll = new_ll
            break
        ll = new_ll
    else:
        return None
    beta_x = beta / sd
    # Breslow baseline at x = 0 (uncentred): dH0(u) = events(u) / sum_{T >= u} w exp(x beta)
    uniq = np.unique(t[ev])
    rx = w * np.exp(np.clip(x @ beta_x, -700, 700))
    s0x = np.cumsum(rx[::-1])[::-1]
    at = np.searchsorted(t, uniq, side="left")
    d = np.bincount(np.searchsorted(uniq, t[ev]), weights=w[ev], minlength=len(uniq))
    return beta_x, uniq, np.cumsum(d / s0x[at])


def _cumhaz_at(uniq: np.ndarray, h0: np.ndarray, t: float) -> float:
    i = np.searchsorted(uniq, t, side="right") - 1
    return float(h0[i]) if i >= 0 else 0.0


def smoothed_observed_risk(time, event, risk, w, t: float) -> np.ndarray | None:
    """Per row, the Cox-spline estimate of the observed risk at t given its predicted risk (None if no fit)."""
    x = cloglog_risk(risk)
    pos = w > 0
    knots = weighted_quantile(x[pos], w[pos], [0.1, 0.5, 0.9])
    if np.any(np.diff(knots) <= 1e-9):
        basis = x[:, None]  # too few distinct predictions for a spline: linear in cloglog
    else:
        basis = rcs_basis(x, knots)
    fit = cox_breslow(time[pos], event[pos], basis[pos], w[pos])
    if fit is None:
        return None
    beta, uniq, h0 = fit
    h = _cumhaz_at(uniq, h0, t)
    if h <= 0.0:  # no event by t
        return np.zeros(len(x))
    with np.errstate(over="ignore"):  # a near-separable fit (tiny cohorts): infinite hazard is observed risk 1
        return -np.expm1(-h * np.exp(basis @ beta))


_LAST: dict[str, tuple] = {}
_LAST_BATCH: dict[str, object] = {}  # key, weights (weak reference), value


def _inputs_key(*arrays) -> str:
    return hashlib.sha1(b"".join(np.ascontiguousarray(a, dtype=float).tobytes() for a in arrays)).hexdigest()


def _ici_parts(time, event, risk, sample_weight, t):
    """|predicted - smoothed observed| per row and the weights. ICI and E50 are separate metrics over the same
    fit, so the last fit is kept (keyed by the inputs' bytes) and the second metric reuses it."""
    time, event, risk, w = _prepare(time, event, risk, sample_weight, t)
    key = _inputs_key(time, event, risk, w, [t])
    if _LAST.get("key") == key:
        return _LAST["value"]
    obs = smoothed_observed_risk(time, event, risk, w, t) if (event & (w > 0)).any() else None
    value = (None, w) if obs is None else (np.abs(risk - obs), w)
    _LAST.update(key=key, value=value)
    return value


def _ici_e50_batch(time, event, risk, weights, t) -> np.ndarray:
    """(B, 2) ICI and E50 per weight row. As in `_ici_parts` the last result is kept for the second metric, keyed
    by the inputs' bytes and the weight matrix itself (the same object, unchanged: hashing 1,000 resamples' weights
    would cost more than the rest of a metric)."""
    time, event, risk, _ = _prepare(time, event, risk, None, t)
    key = _inputs_key(time, event, risk, [t], weights.shape)
    held = _LAST_BATCH.get("weights")
    if _LAST_BATCH.get("key") != key or held is None or held() is not weights:
        x = cloglog_risk(risk)
        value = over_row_blocks(N.ici_e50_rows, weights, time, event, risk, x, np.argsort(x, kind="mergesort"),
                                np.argsort(time, kind="mergesort"), float(t), 60)
        _LAST_BATCH.update(key=key, weights=weakref.ref(weights), value=value)
    return _LAST_BATCH["value"]


def _ici_batch(time, event, risk, *, weights, t: float):
    return _ici_e50_batch(time, event, risk, weights, t)[:, 0]


def _e50_batch(time, event, risk, *, weights, t: float):
    return _ici_e50_batch(time, event, risk, weights, t)[:, 1]


@register_metric("ici", higher_is_better=False, batch=_ici_batch)
def ici(time, event, risk, *, sample_weight=None, t: float) -> float:
    """Integrated calibration index at t: mean |predicted risk - smoothed observed risk|."""
    diff, w = _ici_parts(time, event, risk, sample_weight, t)
    return NAN if diff is None else float(np.dot(w, diff) / w.sum())


@register_metric("e50", higher_is_better=False, batch=_e50_batch)
def e50(time, event, risk, *, sample_weight=None, t: float) -> float:
    """Median |predicted risk - smoothed observed risk| at t."""
    diff, w = _ici_parts(time, event, risk, sample_weight, t)
    if diff is None:
        return NAN
    pos = w > 0
    return float(weighted_quantile(diff[pos], w[pos], 0.5))


def _cox_calib_slope_batch(time, event, risk, *, weights, t: float):
    time, event, risk, _ = _prepare(time, event, risk, None, t)
    by_time = np.argsort(time, kind="mergesort")
    return over_row_blocks(N.cox_slope_rows, weights, time, event, cloglog_risk(risk), by_time, 60)


@register_metric("cox_calib_slope", higher_is_better=None, batch=_cox_calib_slope_batch)
def cox_calib_slope(time, event, risk, *, sample_weight=None, t: float) -> float:
    """Cox coefficient of cloglog(predicted risk at t), follow-up cut at t; 1 is ideal."""
    time, event, risk, w = _prepare(time, event, risk, sample_weight, t)
    w = as_weights(w, len(time))
    fit = cox_breslow(time, event, cloglog_risk(risk)[:, None], w)
    return NAN if fit is None else float(fit[0][0])
