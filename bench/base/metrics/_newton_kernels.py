"""Compiled per-resample Newton fits: the weighted logistic recalibration fit (calibration slope and intercept) and
the weighted Breslow Cox fit behind ICI, E50 and the Cox calibration slope.

Each bootstrap resample needs its own fit; compiled with numba, a resample's fit is a few passes over its own rows,
blocks of resamples on threads (`_threads`). The steps (start, Newton step, step halving, stopping rules,
standardisation, Breslow baseline) are those of `calibration.logistic_fit` and `survival_calibration.cox_breslow`,
so the values agree with them to rounding (tests/test_metrics_batch.py); only p <= 2 covariates (cloglog risk,
plus one restricted-cubic-spline column) are needed, so the sums and linear solves are written out.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def solve_small(a, g):
    """Solve a x = g for p = 1 or 2 by LU with partial pivoting (as LAPACK's getrf/getrs); None when singular."""
    if a.shape[0] == 1:
        if a[0, 0] == 0.0:
            return None
        return np.array([g[0] / a[0, 0]])
    piv, other = (0, 1) if abs(a[0, 0]) >= abs(a[1, 0]) else (1, 0)
    if a[piv, 0] == 0.0:
        return None
    lower = a[other, 0] / a[piv, 0]
    u22 = a[other, 1] - lower * a[piv, 1]
    if u22 == 0.0:
        return None
    x1 = (g[other] - lower * g[piv]) / u22
    return np.array([(g[piv] - a[piv, 1] * x1) / a[piv, 0], x1])


# ---- logistic recalibration ------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _logistic_pass(y, x, offset, w, beta, grad, hess):
    """Negative log-likelihood of y ~ [1, x][:p] + offset at beta, and into grad/hess its score and information
    (one exp and one log1p per row: expit and logaddexp share exp(-|eta|))."""
    two = len(beta) == 2
    nll = g0 = g1 = h00 = h01 = h11 = 0.0
    for i in range(len(y)):
        if w[i] == 0.0:
            continue
        eta = beta[0] + (x[i] * beta[1] if two else 0.0) + offset[i]
        e = np.exp(-abs(eta))
        nll += w[i] * (max(eta, 0.0) + np.log1p(e) - y[i] * eta)
        prob = 1.0 / (1.0 + e) if eta >= 0 else e / (1.0 + e)
        resid = w[i] * (y[i] - prob)
        curv = w[i] * prob * (1.0 - prob)
        g0 += resid
        h00 += curv
        if two:
            g1 += x[i] * resid
            h01 += x[i] * curv
            h11 += x[i] * x[i] * curv
    grad[0] = g0
    hess[0, 0] = h00
    if two:
        grad[1] = g1
        hess[0, 1] = hess[1, 0] = h01
        hess[1, 1] = h11
    return nll


@numba.njit(cache=True, nogil=True)
def logistic_one(y, x, offset, w, p, n_iter):
    """Coefficients of y ~ [1, x][:p] + offset (weighted ML), NaN where `calibration.logistic_fit` gives NaN: its
    Newton steps, step halving and stopping rules, with the derivatives of an accepted step reused."""
    beta = np.zeros(p)
    step = np.zeros(p)
    grad, hess = np.zeros(p), np.zeros((p, p))
    cand_grad, cand_hess = np.zeros(p), np.zeros((p, p))
    cur = _logistic_pass(y, x, offset, w, beta, grad, hess)
    for _ in range(n_iter):
        solved = solve_small(hess, grad)
        if solved is None:
            return np.full(p, np.nan)
        step = solved
        t = 1.0
        new = np.nan
        evaluated = False
        while t > 1e-8:
            new = _logistic_pass(y, x, offset, w, beta + t * step, cand_grad, cand_hess)
            if not new > cur + 1e-12 * (1 + abs(cur)):
                evaluated = True
                break
            t /= 2
        beta = beta + t * step
        if not evaluated:
            new = _logistic_pass(y, x, offset, w, beta, cand_grad, cand_hess)
        grad[:], hess[:, :] = cand_grad, cand_hess
        if abs(cur - new) < 1e-10 * (1 + abs(cur)) and np.max(np.abs(t * step)) < 1e-8:
            return beta
        cur = new
    if np.max(np.abs(step)) < 1e-5:
        return beta
    return np.full(p, np.nan)


@numba.njit(cache=True, nogil=True)
def logistic_rows(weights, y, x, offset, p, coef, n_iter):
    """Coefficient `coef` of the fit on each weight row; NaN where a class has no weight."""
    out = np.empty(weights.shape[0])
    for b in range(weights.shape[0]):
        w = weights[b]
        w_pos = 0.0
        w_neg = 0.0
        for i in range(len(y)):
            if y[i] == 1.0:
                w_pos += w[i]
            else:
                w_neg += w[i]
        if w_pos > 0 and w_neg > 0:
            out[b] = logistic_one(y, x, offset, w, p, n_iter)[coef]
        else:
            out[b] = np.nan
    return out


# ---- Breslow Cox -------------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _cox_pass(z, w, ev, t, beta, grad, hess):
    """Log partial likelihood (Breslow ties) at beta, and into grad/hess its gradient and information matrix.

    One sweep from the latest time: a tied-time group joins the risk-set sums (s0, s1, s2 of w exp(z beta) times
    1, z, z z^T, added from the last row backwards as `cox_breslow`'s reversed cumulative sums are), then its event
    rows are scored against them. Written out for one or two covariates (scalars, no small arrays in the loop)."""
    m, p = z.shape
    two = p == 2
    b0 = beta[0]
    b1 = beta[1] if two else 0.0
    s0 = s1a = s1b = s2aa = s2ab = s2bb = 0.0
    g0 = g1 = h00 = h01 = h11 = 0.0
    ll = 0.0
    stop = m
    while stop > 0:
        start = stop - 1
        while start > 0 and t[start - 1] == t[stop - 1]:
            start -= 1
        for i in range(stop - 1, start - 1, -1):
            za = z[i, 0]
            zb = z[i, 1] if two else 0.0
            eta = za * b0 + zb * b1 if two else za * b0
            r = w[i] * np.exp(min(max(eta, -50.0), 50.0))
            s0 += r
            s1a += r * za
            s2aa += r * za * za
            if two:
                s1b += r * zb
                s2ab += r * za * zb
                s2bb += r * zb * zb
        for i in range(start, stop):
            if not ev[i]:
                continue
            za = z[i, 0]
            zb = z[i, 1] if two else 0.0
            eta = za * b0 + zb * b1 if two else za * b0
            ll += w[i] * (eta - np.log(s0))
            mean_a = s1a / s0
            g0 += w[i] * (za - mean_a)
            h00 += w[i] * (s2aa / s0 - mean_a * mean_a)
            if two:
                mean_b = s1b / s0
                g1 += w[i] * (zb - mean_b)
                h01 += w[i] * (s2ab / s0 - mean_a * mean_b)
                h11 += w[i] * (s2bb / s0 - mean_b * mean_b)
        stop = start
    grad[0] = g0
    hess[0, 0] = h00
    if two:
        grad[1] = g1
        hess[0, 1] = hess[1, 0] = h01
        hess[1, 1] = h11
    return ll


@numba.njit(cache=True, nogil=True)
def cox_one(t, e, x, w, horizon, n_iter):
    """Breslow Cox fit on rows sorted by time, all with positive weight: (converged, coefficients on x, baseline
    cumulative hazard at `horizon`). Standardised covariates, Newton steps with step halving, stopping rules and
    the Breslow baseline as in `survival_calibration.cox_breslow`."""
    m, p = x.shape
    fail = (False, np.full(p, np.nan), np.nan)
    if not e.any():
        return fail
    sd = np.zeros(p)
    z = np.empty((m, p))
    for a in range(p):
        mu = x[:, a].mean()
        sd[a] = np.sqrt(np.mean(np.abs(x[:, a] - mu) ** 2))
        if sd[a] == 0:
            sd[a] = 1.0
        for i in range(m):
            z[i, a] = (x[i, a] - mu) / sd[a]
    beta = np.zeros(p)
    grad, hess = np.zeros(p), np.zeros((p, p))
    cand_grad, cand_hess = np.zeros(p), np.zeros((p, p))
    ll = _cox_pass(z, w, e, t, beta, grad, hess)
    converged = False
    for _ in range(n_iter):
        step = solve_small(hess, grad)
        if step is None:
            return fail
        s = 1.0
        new_ll = ll
        while s > 1e-8:
            new_ll = _cox_pass(z, w, e, t, beta + s * step, cand_grad, cand_hess)
            if new_ll >= ll - 1e-12 * (1 + abs(ll)):
                break
            s /= 2
        beta = beta + s * step  # (the derivatives kept are those of the last candidate tried, as in cox_breslow)
        grad[:], hess[:, :] = cand_grad, cand_hess
        if abs(new_ll - ll) < 1e-10 * (1 + abs(ll)) and np.max(np.abs(s * step)) < 1e-7:
            converged = True
            break
        ll = new_ll
    if not converged:
        return fail
    beta_x = beta / sd
    # Breslow baseline at x = 0 (uncentred): dH0(u) = events(u) / sum_{T >= u} w exp(x beta), summed to horizon
    s0x = np.empty(m)
    acc = 0.0
    for i in range(m - 1, -1, -1):
        eta = 0.0
        for a in range(p):
            eta += x[i, a] * beta_x[a]
        acc += w[i] * np.exp(min(max(eta, -700.0), 700.0))
        s0x[i] = acc
    h = 0.0
    start = 0
    while start < m and t[start] <= horizon:
        stop = start
        d = 0.0
        while stop < m and t[stop] == t[start]:
            if e[stop]:
                d += w[stop]
            stop += 1
        if d > 0:
            h += d / s0x[start]
        start = stop
    return True, beta_x, h


# ---- calibration of survival predictions (per resample: knots, Cox fit, smoothed observed risk) ------------------
@numba.njit(cache=True, nogil=True)
def quantile_sorted(xs, cw, q):
    """`survival_calibration.weighted_quantile` on values already sorted, with their cumulative weights."""
    n = len(xs)
    pos = q * (cw[-1] - 1)
    lo = np.floor(pos)
    at_lo = xs[min(np.searchsorted(cw, lo, side="right"), n - 1)]
    at_hi = xs[min(np.searchsorted(cw, min(lo + 1, cw[-1] - 1), side="right"), n - 1)]
    return at_lo + (pos - lo) * (at_hi - at_lo)


@numba.njit(cache=True, nogil=True)
def _rcs_column(u, k0, k1, k2):
    """The one nonlinear column of `survival_calibration.rcs_basis` for three knots."""
    a, b, c = max(u - k0, 0.0), max(u - k1, 0.0), max(u - k2, 0.0)
    return (a * a * a - b * b * b * (k2 - k0) / (k2 - k1) + c * c * c * (k1 - k0) / (k2 - k1)) / (k2 - k0) ** 2


@numba.njit(cache=True, nogil=True)
def _positive(w, order):
    """The rows of `order` with positive weight, in that order."""
    n = 0
    for i in order:
        n += w[i] > 0
    rows = np.empty(n, dtype=np.int64)
    k = 0
    for i in order:
        if w[i] > 0:
            rows[k] = i
            k += 1
    return rows


@numba.njit(cache=True, nogil=True)
def ici_e50_rows(weights, time, event, risk, x, x_order, time_order, horizon, n_iter):
    """(B, 2): ICI and E50 at `horizon` per weight row (NaN when no event or no Cox fit), as
    `survival_calibration.ici` / `e50`; follow-up already cut at the horizon, x = cloglog(risk)."""
    out = np.full((weights.shape[0], 2), np.nan)
    for b in range(weights.shape[0]):
        w = weights[b]
        by_time = _positive(w, time_order)
        if not event[by_time].any():
            continue
        by_x = _positive(w, x_order)
        xs, cw = x[by_x], np.cumsum(w[by_x])
        k0, k1, k2 = quantile_sorted(xs, cw, 0.1), quantile_sorted(xs, cw, 0.5), quantile_sorted(xs, cw, 0.9)
        linear = k1 - k0 <= 1e-9 or k2 - k1 <= 1e-9
        basis = np.empty((len(x), 1 if linear else 2))
        for i in by_time:
            basis[i, 0] = x[i]
            if not linear:
                basis[i, 1] = _rcs_column(x[i], k0, k1, k2)
        ok, beta, h = cox_one(time[by_time], event[by_time], basis[by_time], w[by_time], horizon, n_iter)
        if not ok:
            continue
        rows = np.sort(by_time)
        diff = np.empty(len(rows))
        for k in range(len(rows)):
            i = rows[k]
            obs = 0.0
            if h > 0.0:
                eta = 0.0
                for a in range(basis.shape[1]):
                    eta += basis[i, a] * beta[a]
                obs = -np.expm1(-h * np.exp(eta))
            diff[k] = abs(risk[i] - obs)
        wr = w[rows]
        out[b, 0] = np.dot(wr, diff) / wr.sum()
        d_order = np.argsort(diff)  # ties in |difference| are equal values: their order does not matter
        out[b, 1] = quantile_sorted(diff[d_order], np.cumsum(wr[d_order]), 0.5)
    return out


@numba.njit(cache=True, nogil=True)
def cox_slope_rows(weights, time, event, x, time_order, n_iter):
    """Cox coefficient of x (one covariate) per weight row, as `survival_calibration.cox_calib_slope`; NaN when
    the fit fails."""
    out = np.full(weights.shape[0], np.nan)
    basis = x.reshape(-1, 1).copy()
    for b in range(weights.shape[0]):
        w = weights[b]
        rows = _positive(w, time_order)
        ok, beta, _ = cox_one(time[rows], event[rows], basis[rows], w[rows], np.inf, n_iter)
        if ok:
            out[b] = beta[0]
    return out
