"""Survival metrics against lifelines and scikit-survival (when installed) on simulated AF follow-up."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.utils import concordance_index

from bench.base.metrics import survival as S
from bench.base.metrics import survival_calibration as SC
from bench.data.simulator import simulate
from tasks._survival_encoding import N_INTERVALS
from tasks.af_survival import incident_survival


@lru_cache(maxsize=1)
def af_follow_up():
    """Incident-AF rows of a simulated cohort: days, event, oracle 1/2/5-year risk and a noisier model's risk."""
    records, _, oracle = simulate(250, 11)
    keep = (records["prevalent_af"] == 0).to_numpy()
    t = records["af_time_days"].to_numpy(float)[keep]
    e = records["af_event"].to_numpy(float)[keep] == 1
    surv = incident_survival(oracle[[f"oracle_surv_{k:02d}" for k in range(N_INTERVALS)]].to_numpy(float))[keep]
    rng = np.random.default_rng(0)
    noisy = 1 - np.clip(surv * np.exp(rng.normal(0, 0.05, (len(t), 1))), 0, 1)
    return t, e, surv, noisy


def ph_cohort(n=3000, seed=0, horizon=1825.0):
    """Exponential proportional-hazards follow-up with independent censoring and a known 5-year risk."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    rate = 2e-4 * np.exp(0.9 * x)
    t_ev = rng.exponential(1 / rate)
    t_cens = np.minimum(rng.exponential(6000, n), horizon)
    t = np.minimum(t_ev, t_cens)
    return t, t_ev <= t_cens, 1 - np.exp(-rate * horizon)


def test_harrell_c_matches_lifelines_with_and_without_weights():
    t, e, _, risk = af_follow_up()
    r5 = risk[:, 24]
    assert S.harrell_c(t, e, r5) == pytest.approx(concordance_index(t, -r5, e), abs=1e-12)
    w = np.random.default_rng(1).integers(0, 4, len(t))
    rows = np.repeat(np.arange(len(t)), w)  # a weighted call equals the resampled rows
    assert S.harrell_c(t, e, r5, sample_weight=w) == pytest.approx(
        concordance_index(t[rows], -r5[rows], e[rows]), abs=1e-12)


def test_harrell_c_ties_follow_lifelines():
    t = np.array([1, 2, 2, 3, 3, 4, 5, 5], float)
    e = np.array([1, 1, 0, 1, 1, 0, 1, 0], bool)
    r = np.array([0.9, 0.5, 0.5, 0.3, 0.7, 0.1, 0.2, 0.2])
    assert S.harrell_c(t, e, r) == pytest.approx(concordance_index(t, -r, e), abs=1e-12)


def test_kaplan_meier_matches_lifelines_weighted():
    t, e, _, _ = af_follow_up()
    w = np.random.default_rng(2).integers(1, 4, len(t)).astype(float)
    at = np.array([100.0, 365.0, 1000.0, 1825.0])
    km = KaplanMeierFitter().fit(t, e, weights=w)
    assert S.kaplan_meier(t, e, at, sample_weight=w) == pytest.approx(km.survival_function_at_times(at).values)


def test_censoring_distribution_is_the_reverse_kaplan_meier_left_limit():
    t, e, _, _ = af_follow_up()
    km = KaplanMeierFitter().fit(t, ~e)  # continuous times: no event tied to a censoring except none
    at = np.array([200.0, 800.0, 1500.0])
    assert S.censoring_survival(t, e, at) == pytest.approx(km.survival_function_at_times(at).values)
    # at the administrative horizon everyone left is censored: G(1825-) > 0 while G(1825) = 0
    assert S.censoring_survival(t, e, [1825.0])[0] > 0.5


def test_uno_auc_brier_ibs_match_scikit_survival():
    sks = pytest.importorskip("sksurv.metrics")
    from sksurv.util import Surv

    t, e, _, risk = af_follow_up()
    y = Surv.from_arrays(e, t)
    r5 = risk[:, 24]
    assert S.uno_c(t, e, r5, tau=1500.0) == pytest.approx(sks.concordance_index_ipcw(y, y, r5, tau=1500.0)[0])
    for k, days in ((4, 365.0), (9, 730.0)):
        ref = sks.cumulative_dynamic_auc(y, y, risk[:, k], [days])[0][0]
        assert S.cumulative_dynamic_auc(t, e, risk[:, k], t=days) == pytest.approx(ref, abs=1e-12)
        ref_b = sks.brier_score(y, y, 1 - risk[:, k], [days])[1][0]
        assert S.brier_at(t, e, 1 - risk[:, k], t=days) == pytest.approx(ref_b, abs=1e-12)
    times = 73.0 * np.arange(1, 25)  # up to 1752 days, inside the follow-up
    ref_ibs = sks.integrated_brier_score(y, y, 1 - risk[:, :24], times)
    assert S.integrated_brier(t, e, 1 - risk[:, :24], times=times) == pytest.approx(ref_ibs, abs=1e-12)


def test_horizon_controls_include_rows_censored_at_the_horizon():
    """Follow-up is cut at exactly 5 years: at t = 1825 the controls are those censored there, which is
    scikit-survival's answer just before the horizon."""
    sks = pytest.importorskip("sksurv.metrics")
    from sksurv.util import Surv

    t, e, _, risk = af_follow_up()
    assert (t == 1825).sum() > 0.5 * len(t)
    y = Surv.from_arrays(e, t)
    just_before = 1825.0 - 1e-6
    assert S.cumulative_dynamic_auc(t, e, risk[:, 24], t=1825.0) == pytest.approx(
        sks.cumulative_dynamic_auc(y, y, risk[:, 24], [just_before])[0][0], abs=1e-12)
    assert S.brier_at(t, e, 1 - risk[:, 24], t=1825.0) == pytest.approx(
        sks.brier_score(y, y, 1 - risk[:, 24], [just_before])[1][0], abs=1e-12)


def test_uno_c_without_censoring_equals_harrell():
    rng = np.random.default_rng(3)
    t = rng.exponential(500, 200)
    e = np.ones(200, bool)
    r = -t + rng.normal(0, 300, 200)
    assert S.uno_c(t, e, r) == pytest.approx(S.harrell_c(t, e, r), abs=1e-12)


def test_cox_fit_matches_lifelines():
    t, e, _ = ph_cohort(800, seed=4)
    x = np.random.default_rng(5).normal(size=800)
    risk_x = np.column_stack([np.log(-np.log(1 - ph_cohort(800, seed=4)[2])), x])
    beta, times, h0 = SC.cox_breslow(t, e, risk_x, np.ones(800))
    df = pd.DataFrame({"t": t, "e": e.astype(int), "a": risk_x[:, 0], "b": x})
    ref = CoxPHFitter().fit(df, "t", "e")
    assert beta == pytest.approx(ref.params_[["a", "b"]].values, abs=1e-5)
    # survival of row 0 at an event time (no interpolation on either side)
    u = times[len(times) // 2]
    mine = np.exp(-h0[len(times) // 2] * np.exp(risk_x[0] @ beta))
    theirs = ref.predict_survival_function(df.iloc[[0]], times=[u]).values[0, 0]
    assert mine == pytest.approx(theirs, rel=1e-4)


def test_calibration_of_true_risk_is_good_and_of_doubled_risk_is_not():
    t, e, r5 = ph_cohort()
    assert SC.cox_calib_slope(t, e, r5, t=1825.0) == pytest.approx(1.0, abs=0.12)
    assert SC.ici(t, e, r5, t=1825.0) < 0.02
    assert S.km_calibration_error(t, e, r5, t=1825.0) < 0.03
    doubled = np.minimum(2 * r5, 0.99)
    assert SC.ici(t, e, doubled, t=1825.0) == pytest.approx(np.mean(doubled - r5), rel=0.25)
    assert SC.e50(t, e, doubled, t=1825.0) > 0.5 * np.median(doubled - r5)
    assert S.km_calibration_error(t, e, doubled, t=1825.0) > 0.5 * np.mean(doubled - r5)
    # squeezing risks toward the mean on the cloglog scale gives a slope above 1
    lp = np.log(-np.log(1 - r5))
    flat = 1 - np.exp(-np.exp(lp.mean() + 0.5 * (lp - lp.mean())))
    assert SC.cox_calib_slope(t, e, flat, t=1825.0) == pytest.approx(2.0, abs=0.3)


def test_undefined_survival_metrics_are_nan():
    t = np.array([100.0, 200.0, 300.0])
    e = np.zeros(3, bool)  # no events
    r = np.array([0.1, 0.2, 0.3])
    for fn, kw in ((S.harrell_c, {}), (S.uno_c, {"tau": 1825.0}), (S.cumulative_dynamic_auc, {"t": 365.0}),
                   (SC.ici, {"t": 1825.0}), (SC.e50, {"t": 1825.0}), (SC.cox_calib_slope, {"t": 1825.0})):
        assert np.isnan(fn(t, e, r, **kw)), fn.__name__
    empty = np.array([])
    assert np.isnan(S.harrell_c(empty, empty.astype(bool), empty))
    assert np.isnan(S.km_calibration_error(empty, empty.astype(bool), empty, t=1825.0))


def test_risk_deciles_and_kaplan_meier_observed_risk_hand_worked():
    risk = np.arange(20) / 100.0
    assert S.risk_groups(risk, np.ones(20), 10).tolist() == [k // 2 for k in range(20)]
    w = np.ones(20)
    w[0] = 4.0  # the lowest-risk row weighs a fifth of the total 23: alone in deciles 0-1
    g = S.risk_groups(risk, w, 10)
    assert g[0] == 0 and g[1] == 1 and g[-1] == 9 and (np.diff(g) >= 0).all()
    # two groups, no censoring before 5 years: the Kaplan-Meier risk is the share of events
    t = np.r_[np.full(4, 1825.0), [100.0], np.full(3, 1825.0), [50.0, 900.0]]
    e = np.r_[np.zeros(4), [1], np.zeros(3), [1, 1]].astype(bool)
    r = np.r_[np.full(5, 0.1), np.full(5, 0.3)]
    tab = S.km_calibration_table(t, e, r, t=1825.0, n_groups=2)
    assert tab[:, 3] == pytest.approx([0.2, 0.4]) and tab[:, 2] == pytest.approx([0.1, 0.3])
    assert S.km_calibration_error(t, e, r, t=1825.0, n_groups=2) == pytest.approx(0.1)
