"""Simulator: physical consistency of the leads, realistic amplitudes, determinism, oracle calibration, and a simple
model on the planted features reaching the oracle."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from bench.data.simulator import N_INTERVALS, SimConfig, simulate
from bench.data.simulator import dipole
from bench.data.simulator.generate import plan_cohort


@pytest.fixture(scope="module")
def small():
    return simulate(120, seed=7)


def test_shapes_einthoven_and_determinism(small):
    records, signals, oracle = small
    assert signals.shape == (len(records), 12, 5000) and signals.dtype == np.float32
    assert len(oracle) == len(records) and (oracle["ecg_id"].to_numpy() == records["ecg_id"].to_numpy()).all()
    # Einthoven / Goldberger: exact where the file stores 8 leads (MUSE), within 2 uV where every lead
    # is stored rounded to 1 uV (WFDB, as PTB-XL; 250 Hz files are interpolated after rounding)
    for fmt, tol in (("muse", 1e-5), ("wfdb", 2e-3)):
        i, ii, iii, avr, avl, avf = (signals[(records["format"] == fmt).to_numpy(), k] for k in range(6))
        assert np.abs(iii - (ii - i)).max() < tol
        assert np.abs(avr + (i + ii) / 2).max() < tol
        assert np.abs(avl - (i - ii / 2)).max() < tol and np.abs(avf - (ii - i / 2)).max() < tol
    r2, s2, o2 = simulate(120, seed=7)
    assert np.array_equal(signals, s2) and records.equals(r2) and oracle.equals(o2)
    assert not np.array_equal(simulate(10, seed=8)[1][:5], signals[:5])
    assert records.groupby("patient_id").size().between(1, 4).all()
    assert set(records["fs"]) == {250, 500}


def test_amplitudes_in_realistic_millivolts(small):
    records, signals, _ = small
    sinus = records["marker_lbbb"].to_numpy() == 0
    x = signals[sinus] - np.median(signals[sinus], axis=2, keepdims=True)
    r_v5 = np.median(x[:, 10].max(axis=1))
    s_v1 = np.median(-x[:, 6].min(axis=1))
    r_ii = np.median(x[:, 1].max(axis=1))
    assert 0.8 < r_v5 < 2.5, r_v5
    assert 0.4 < s_v1 < 2.0, s_v1
    assert 0.4 < r_ii < 2.0, r_ii
    assert np.abs(signals).max() < 6.0


def test_planted_measurements_are_consistent(small):
    records, _, _ = small
    sinus = records["af_rhythm"] == 0
    assert records.loc[sinus, ["pr_ms", "p_dur_ms"]].notna().all().all()
    assert records.loc[~sinus, "pr_ms"].isna().all()
    assert (records.loc[sinus, "pr_ms"] > records.loc[sinus, "p_dur_ms"]).all()
    assert records["qrs_ms"].between(60, 180).all() and records["qt_ms"].between(250, 600).all()
    assert records["hr_bpm"].between(35, 160).all()


def test_oracle_survival_monotone_and_prevalent_af_in_interval_0(small):
    records, _, oracle = small
    surv = oracle[[f"oracle_surv_{k:02d}" for k in range(N_INTERVALS)]].to_numpy()
    assert (np.diff(surv, axis=1) <= 1e-12).all() and ((surv >= 0) & (surv <= 1)).all()
    af_strip = records["af_rhythm"].to_numpy() == 1
    assert (surv[af_strip] == 0).all()
    assert (records.loc[records["prevalent_af"] == 1, "af_time_days"] == 0).all()
    terr = oracle[[c for c in oracle.columns if c.startswith("oracle_p_") and c[9:].isupper()]].to_numpy()
    assert np.allclose(terr.sum(axis=1), 1.0)


@pytest.fixture(scope="module")
def big_plan():
    """Labels and oracle for 12,000 patients (no waveforms: the oracle does not depend on them)."""
    from bench.base.labels import labels_to_records

    plan, oracle = plan_cohort(12000, seed=11)
    return labels_to_records(plan.drop(columns=[c for c in plan.columns if c.startswith("_r_")])), oracle


def _binned_calibration(p, y, bins=10):
    q = np.quantile(p, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(q, p, side="right") - 1, 0, bins - 1)
    return np.array([[p[idx == b].mean(), y[idx == b].mean(), (idx == b).sum()] for b in range(bins)])


def test_rates_near_configuration(big_plan):
    records, oracle = big_plan
    first = records.groupby("patient_id").head(1)
    cfg = SimConfig()
    assert abs((first["lvef"] <= 40).sum() / first["lvef"].notna().sum() - cfg.lvsd_prevalence) < 0.015
    # scar in 15 %; the MI label adds non-Q MI, most of it marked by fQRS alone (OR 12 since simulator 1.6): ~23 %
    assert 0.08 < first["mi"].mean() < 0.27
    terr = first.loc[first["mi"] == 1, "mi_territory"].value_counts(normalize=True)
    assert terr.idxmax() in ("IMI", "ASMI") and terr.get("LMI", 0) < 0.1
    from lifelines import KaplanMeierFitter

    inc = first[first["prevalent_af"] == 0]
    km = KaplanMeierFitter().fit(inc["af_time_days"], inc["af_event"])
    assert abs((1 - km.predict(1824.0)) - cfg.af_5y_incidence) < 0.02
    assert 0.015 < first["prevalent_af"].mean() < 0.05


def test_oracle_is_calibrated(big_plan):
    records, oracle = big_plan
    lv = records["lvef"].notna().to_numpy()
    cal = _binned_calibration(oracle["oracle_p_lvef"].to_numpy()[lv], (records["lvef"] <= 40).to_numpy()[lv])
    se = np.sqrt(np.maximum(cal[:, 0] * (1 - cal[:, 0]), 1e-4) / cal[:, 2])
    assert (np.abs(cal[:, 0] - cal[:, 1]) < 4 * se + 0.01).all(), cal
    cal = _binned_calibration(oracle["oracle_p_mi"].to_numpy(), records["mi"].to_numpy())
    se = np.sqrt(np.maximum(cal[:, 0] * (1 - cal[:, 0]), 1e-4) / cal[:, 2])
    assert (np.abs(cal[:, 0] - cal[:, 1]) < 4 * se + 0.01).all(), cal
    # AF: Kaplan-Meier 5-y AF-free survival per oracle risk quintile vs the mean oracle survival
    from lifelines import KaplanMeierFitter

    sinus = records["af_rhythm"].to_numpy() == 0
    s5 = oracle["oracle_surv_25"].to_numpy()[sinus]
    r = records[sinus]
    q = np.quantile(s5, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    for lo, hi in zip(q[:-1], q[1:]):
        m = (s5 >= lo) & (s5 <= hi)
        km = KaplanMeierFitter().fit(r["af_time_days"][m], r["af_event"][m])
        assert abs(km.predict(1824.0) - s5[m].mean()) < 0.03, (lo, hi)


def test_oracle_incident_survival_has_no_first_step_jump(big_plan):
    """Among first ECGs without prevalent AF, the oracle's mean S_k / S_0 is the Kaplan-Meier AF-free proportion on
    day 73 k. Tolerance: 4 binomial standard errors of that proportion (censoring before day 365 is ~6 %, so the
    Kaplan-Meier estimate is nearly binomial; one ECG per patient keeps rows independent). S_k alone carries the
    chance of paroxysmal AF before a sinus strip (~1.5 %, about ten such errors at day 73) and must miss."""
    from lifelines import KaplanMeierFitter

    records, oracle = big_plan
    first = ~records["patient_id"].duplicated().to_numpy()
    inc = first & (records["prevalent_af"].to_numpy() == 0)
    km = KaplanMeierFitter().fit(records["af_time_days"][inc], records["af_event"][inc])
    s0 = oracle["oracle_surv_00"].to_numpy()[inc]
    for k in (1, 5):
        observed = float(km.predict(73.0 * k))
        tol = 4 * np.sqrt(observed * (1 - observed) / inc.sum())
        sk = oracle[f"oracle_surv_{k:02d}"].to_numpy()[inc]
        assert abs((sk / s0).mean() - observed) < tol, (k, (sk / s0).mean(), observed, tol)
        assert observed - sk.mean() > tol, (k, sk.mean(), observed)


def test_logistic_regression_on_planted_features_nears_oracle(big_plan):
    records, oracle = big_plan
    pat = records["patient_id"].to_numpy()
    test = pd.Series(pat).map(lambda p: hash(p) % 3 == 0).to_numpy()  # patient-wise hold-out
    feats = {
        "lvef": ["qrs_ms", "marker_lbbb", "marker_low_voltage", "marker_t_inversion", "hr_bpm_proxy",
                 "marker_scar_mv", "marker_fqrs", "sex", "age"],
        "mi": ["marker_scar_mv", "marker_fqrs", "age", "sex"],
    }
    rec = records.assign(hr_bpm_proxy=60.0 / np.sqrt(records["qt_ms"] / 412.0) ** 2)  # HR from planted QT (QTc ~ const)
    rec["marker_scar_mv"] = rec["marker_scar_mv"].astype(float)
    rec["scar_present"] = (rec["marker_scar_mv"] > 0).astype(float)
    feats["mi"].append("scar_present")
    for task, y, p_or in (("lvef", (rec["lvef"] <= 40), oracle["oracle_p_lvef"]), ("mi", rec["mi"] == 1, oracle["oracle_p_mi"])):
        ok = rec["lvef"].notna().to_numpy() if task == "lvef" else np.ones(len(rec), bool)
        X = rec[feats[task]].to_numpy(float)
        lr = LogisticRegression(max_iter=2000).fit(X[ok & ~test], y[ok & ~test])
        auc_lr = roc_auc_score(y[ok & test], lr.predict_proba(X[ok & test])[:, 1])
        auc_or = roc_auc_score(y[ok & test], p_or[ok & test])
        assert auc_or > 0.75, (task, auc_or)
        assert auc_lr > auc_or - 0.04, (task, auc_lr, auc_or)


def test_fqrs_notch_is_tens_of_microvolts_and_blurred_by_low_resolution():
    n = 4
    base = {"pr": np.full(n, 160.0), "pdur": np.full(n, 100.0), "qrs": np.full(n, 95.0), "qt": np.full(n, 400.0),
            "lbbb": np.zeros(n, bool), "qrs_gain": np.ones(n), "adv_iab": np.zeros(n, bool),
            "ptfv1": np.zeros(n, bool), "af_rhythm": np.zeros(n, bool), "t_inversion": np.zeros(n, bool),
            "territory": np.arange(n), "scar_mv": np.zeros(n), "fqrs_territory": np.arange(n),
            "axis_deg": np.zeros(n), "horiz_deg": np.zeros(n)}
    with_f, _ = dipole.beat_templates({**base, "fqrs": np.ones(n, bool)})
    without, _ = dipole.beat_templates({**base, "fqrs": np.zeros(n, bool)})
    diff = dipole.leads_from_dipole(with_f - without)  # the notch alone, in the 8 leads
    peak_uv = np.abs(diff).max(axis=(1, 2)) * 1000
    assert ((peak_uv > 15) & (peak_uv < 80)).all(), peak_uv
    # a low-resolution image (224 px across a 3x4 layout: ~45 ms per pixel column; a 20 ms boxcar here, kinder)
    # keeps under half of the notch but most of the QRS itself
    k = np.ones(10) / 10

    def blur(x):
        return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), -1, x)

    assert (np.abs(blur(diff)).max(axis=(1, 2)) < 0.5 * np.abs(diff).max(axis=(1, 2))).all()
    qrs = dipole.leads_from_dipole(without)
    assert (np.abs(blur(qrs)).max(axis=(1, 2)) > 0.6 * np.abs(qrs).max(axis=(1, 2))).all()


def test_fine_detail_marker_carries_part_of_the_risk(big_plan):
    """A reader blind to the fQRS notch (oracle_p_*_no_fqrs) is still calibrated but discriminates less."""
    records, oracle = big_plan
    lv = records["lvef"].notna().to_numpy()
    for y, full, blind in (((records["lvef"] <= 40).to_numpy()[lv], oracle["oracle_p_lvef"][lv], oracle["oracle_p_lvef_no_fqrs"][lv]),
                           (records["mi"].to_numpy() == 1, oracle["oracle_p_mi"], oracle["oracle_p_mi_no_fqrs"])):
        assert roc_auc_score(y, full) - roc_auc_score(y, blind) > 0.01
        assert abs(blind.mean() - y.mean()) < 0.01


FACING = {"AMI": {"V1", "V2", "V3", "V4"}, "ASMI": {"V1", "V2", "V3", "V4"}, "ALMI": {"V3", "V4", "V5", "V6", "I", "aVL"},
          "LMI": {"I", "aVL", "V5", "V6"}, "IMI": {"II", "III", "aVF"}, "ILMI": {"II", "III", "aVF", "V5", "V6"}}


def test_infarct_makes_q_waves_and_st_t_change_in_its_territory():
    from bench.base.cohort import MI_TERRITORIES
    from bench.base.signal import STANDARD_LEADS

    n = len(MI_TERRITORIES)
    base = {"pr": np.full(n, 160.0), "pdur": np.full(n, 100.0), "qrs": np.full(n, 95.0), "qt": np.full(n, 400.0),
            "lbbb": np.zeros(n, bool), "qrs_gain": np.ones(n), "adv_iab": np.zeros(n, bool), "fqrs": np.zeros(n, bool),
            "ptfv1": np.zeros(n, bool), "af_rhythm": np.zeros(n, bool), "t_inversion": np.zeros(n, bool),
            "territory": np.arange(n), "scar_mv": np.full(n, 0.3), "fqrs_territory": np.arange(n),
            "axis_deg": np.zeros(n), "horiz_deg": np.zeros(n)}
    mi, _ = dipole.beat_templates(base)
    no, _ = dipole.beat_templates({**base, "scar_mv": np.zeros(n)})
    x, x0 = (dipole.twelve_from_eight(dipole.leads_from_dipole(v)) for v in (mi, no))
    t = dipole._t * 1000
    early, late_t = (t > 0) & (t < 40), (t > 250) & (t < 400)
    for k, terr in enumerate(MI_TERRITORIES):
        dq = x[k][:, early].min(1) - x0[k][:, early].min(1)
        deepest = {STANDARD_LEADS[i] for i in np.argsort(dq)[:2]}
        assert deepest <= FACING[terr], (terr, deepest)
        assert dq.min() < -0.1  # >= 0.1 mV deeper initial negativity (UDMI depth)
        dt = x[k][:, late_t].mean(1) - x0[k][:, late_t].mean(1)
        assert STANDARD_LEADS[int(np.argmin(dt))] in FACING[terr] | {"V3", "V4"}, terr


def test_a_patients_ecgs_look_alike(small):
    """Morphology is a patient trait: per-lead QRS extremes differ less within a patient than between patients."""
    records, signals, _ = small
    x = signals - np.median(signals, axis=2, keepdims=True)
    feats = np.concatenate([np.percentile(x, 99.5, axis=2), np.percentile(x, 0.5, axis=2)], axis=1)
    pid = records["patient_id"].to_numpy()
    sinus = records["af_rhythm"].to_numpy() == 0
    within, between = [], []
    for i in np.flatnonzero(sinus):
        for j in np.flatnonzero(sinus)[np.flatnonzero(sinus) > i][:30]:
            (within if pid[i] == pid[j] else between).append(np.abs(feats[i] - feats[j]).mean())
    assert len(within) > 10
    assert np.median(within) < 0.5 * np.median(between)
