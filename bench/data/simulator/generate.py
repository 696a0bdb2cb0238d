"""Cohort generation: patients -> ECG schedule -> outcomes and oracle -> rendered 12-lead signals.

`plan_cohort` decides everything except the waveforms (cheap, whole cohort at once); `render_batch` renders a
fixed-size batch of ECGs (vectorised over ECGs and beats) to the file's own rate and quantisation and to the
standardised 500 Hz matrix that a reader + `standardise` would return. Both are deterministic given the seed:
batch b draws from its own child of the seed, so streaming to files and `simulate` in memory give identical ECGs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import resample_poly

from bench.base.cohort import MI_TERRITORIES
from bench.data.simulator import dipole
from bench.data.simulator.config import HORIZON_DAYS, SimConfig
from bench.data.simulator.noise import add_noise
from bench.data.simulator.covariates import COVARIATE_COLUMNS, draw_covariates
from bench.data.simulator.oracles import clinical_only_surv, ecg_only_surv
from bench.data.simulator.outcomes import draw_patient_outcomes, ecg_oracle_surv, lvsd_probability, patient_risks
from bench.data.simulator.population import draw_patients
from bench.data.simulator.waveform_oracle import waveform_oracle

BATCH = 128
#: Least significant bit (mV) of each written format: WFDB at 1000 adu/mV (as PTB-XL), MUSE at 4.88 uV.
LSB = {"wfdb": 0.001, "muse": 0.00488}
_BASE_DATE = np.datetime64("2012-01-01T00:00:00")
RENDER_TRAITS = ("hr", "pr", "pdur", "qrs", "qrs_gain", "axis_deg", "horiz_deg", "scar_mv", "territory",
                 "fqrs_territory", "p_gain", "t_gain", "la_z", "fqrs_amp", "fqrs_sigma", "fqrs_pos",
                 *(f"qrs_shape_{j}" for j in range(9)))
MARKERS = ("adv_iab", "ptfv1", "pac", "lbbb", "low_voltage", "t_inversion", "qrs_gain", "scar_mv", "fqrs",
           "fqrs_territory", "axis_deg")


def _iso(days_from_base: np.ndarray) -> np.ndarray:
    sec = np.round(np.asarray(days_from_base, float) * 86400.0)
    ok = np.isfinite(sec)
    out = np.full(len(sec), "", dtype=object)
    out[ok] = np.datetime_as_string(_BASE_DATE + sec[ok].astype("timedelta64[s]"), unit="s")
    return out


def plan_cohort(n_patients: int, seed: int, cfg: SimConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plan, oracle): one row per ECG with labels (folder CSV schema), planted values and render parameters."""
    cfg = cfg or SimConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    tr = draw_patients(rng, n_patients, cfg)
    # covariates from their own stream (given the markers): the waveforms of a seed stay as they were
    cov = draw_covariates(np.random.default_rng(np.random.SeedSequence([seed, 2])), tr, lvsd_probability(tr, cfg))
    risks = patient_risks(tr, cov, cfg)
    probs = np.asarray(cfg.ecgs_per_patient_probs, float)
    n_ecg = rng.choice(np.arange(1, len(probs) + 1), size=n_patients, p=probs / probs.sum())
    pidx = np.repeat(np.arange(n_patients), n_ecg)
    first = np.r_[0, np.cumsum(n_ecg)[:-1]]
    j = np.arange(len(pidx)) - first[pidx]
    gaps = np.where(j == 0, 0.0, rng.uniform(20.0, 500.0, len(pidx)))
    ecg_day = pd.Series(gaps).groupby(pidx).cumsum().to_numpy() + rng.uniform(0.3, 0.75, len(pidx))
    last_day = pd.Series(ecg_day).groupby(pidx).max().to_numpy()
    oc = draw_patient_outcomes(rng, tr, risks, last_day, cfg)
    start = rng.uniform(0, 4 * 365.25, n_patients)  # calendar start of each patient
    t, o, r = tr.iloc[pidx].reset_index(drop=True), oc.iloc[pidx].reset_index(drop=True), risks.iloc[pidx]
    ne = len(pidx)

    af_day = o["af_day"].to_numpy()
    prevalent = af_day <= ecg_day
    af_rhythm = prevalent & (rng.random(ne) < cfg.af_rhythm_if_prevalent)
    history = prevalent & ~af_rhythm & (rng.random(ne) < cfg.af_statement_if_history)
    statements = np.where(af_rhythm, "Atrial fibrillation", np.where(history, "Sinus rhythm. History of atrial fibrillation",
                                                                      "Sinus rhythm"))
    censor = np.minimum(np.minimum(o["death_day"], o["loss_day"]), ecg_day + HORIZON_DAYS).to_numpy()
    af_seen = ~prevalent & (af_day <= censor)
    has_echo = rng.random(ne) < cfg.echo_fraction
    echo_day = ecg_day + rng.uniform(-180, 180, ne)
    qt = t["qtc"].to_numpy() * np.sqrt(60.0 / t["hr"].to_numpy())
    pid = np.array([f"P{seed:04d}{i:06d}" for i in pidx])
    ecg_id = np.char.add(np.char.add(pid.astype(str), "_"), (j + 1).astype(str))
    fmt = np.where(rng.random(ne) < cfg.fraction_muse_xml, "muse", "wfdb")
    fs = np.where(rng.random(ne) < cfg.fraction_250hz, 250, 500)
    cal = start[pidx]
    plan = pd.DataFrame({
        "file": [f"ecgs/{e}.{'xml' if f == 'muse' else 'hea'}" for e, f in zip(ecg_id, fmt)],
        "patient_id": pid, "ecg_id": ecg_id, "ecg_datetime": _iso(cal + ecg_day),
        "af_event_datetime": _iso(np.where(af_seen | prevalent, cal + np.where(prevalent, np.minimum(af_day, ecg_day - 0.2),
                                                                                 af_day), np.nan)),
        "censor_datetime": _iso(cal + censor),
        "prevalent_af": prevalent.astype(int),
        "lvef": np.where(has_echo, o["lvef"], np.nan),
        "lvef_datetime": _iso(np.where(has_echo, cal + echo_day, np.nan)),
        "mi": o["mi"].to_numpy(), "mi_territory": o["mi_territory"].to_numpy(),
        "age": np.round(t["age0"].to_numpy() + ecg_day / 365.25, 1), "sex": t["sex"].to_numpy(),
        **{c: cov[c].to_numpy()[pidx] for c in COVARIATE_COLUMNS},
        "statements": statements, "fs": fs, "format": fmt,
        "pr_ms": np.where(af_rhythm, np.nan, t["pr"].round(1)), "p_dur_ms": np.where(af_rhythm, np.nan, t["pdur"].round(1)),
        "qrs_ms": t["qrs"].round(1).to_numpy(), "qt_ms": np.round(qt, 1),
        "af_rhythm": af_rhythm.astype(int),
    })
    for m in MARKERS:
        plan[f"marker_{m}"] = t[m].to_numpy().astype(float).round(4)
    plan["marker_territory"] = np.where(t["scar"], np.array(MI_TERRITORIES)[t["territory"]], "")
    # render parameters (not written)
    for k in RENDER_TRAITS:
        plan[f"_r_{k}"] = t[k].to_numpy()
    for k in ("adv_iab", "ptfv1", "pac", "lbbb", "t_inversion", "fqrs"):
        plan[f"_r_{k}"] = t[k].to_numpy().astype(bool)
    plan["_r_qt"] = qt

    oracle = pd.DataFrame({"ecg_id": ecg_id})
    surv = ecg_oracle_surv(r.reset_index(drop=True), t["age0"].to_numpy(), ecg_day, af_rhythm, cfg)
    for k in range(surv.shape[1]):
        oracle[f"oracle_surv_{k:02d}"] = surv[:, k]
    part_rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    for name, part in (("clinical", clinical_only_surv(part_rng, tr, cov, pidx, ecg_day, af_rhythm, cfg)),
                       ("ecg", ecg_only_surv(part_rng, tr, lvsd_probability(tr, cfg), pidx, ecg_day, af_rhythm, cfg))):
        for k in range(part.shape[1]):
            oracle[f"oracle_{name}_surv_{k:02d}"] = part[:, k]
    oracle["oracle_p_lvef"] = r["p_lvsd"].to_numpy()
    oracle["oracle_p_mi"] = r["p_mi"].to_numpy()
    oracle["oracle_p_lvef_no_fqrs"] = r["p_lvsd_no_fqrs"].to_numpy()
    oracle["oracle_p_mi_no_fqrs"] = r["p_mi_no_fqrs"].to_numpy()
    for tname in MI_TERRITORIES:
        oracle[f"oracle_p_{tname}"] = r[f"p_{tname}"].to_numpy()
    # what the waveform alone can show: age, sex and covariates integrated out (own stream: no label changes)
    wave = waveform_oracle(np.random.default_rng(np.random.SeedSequence([seed, 4])), tr, pidx, ecg_day, af_rhythm, cfg)
    for tname in MI_TERRITORIES:  # the territory given MI does not depend on age or sex: the full oracle's
        wave[f"p_{tname}"] = r[f"p_{tname}"].to_numpy()
    return plan, pd.concat([oracle, wave.add_prefix("oracle_waveform_")], axis=1)


def render_batch(rows: pd.DataFrame, batch_index: int, seed: int, cfg: SimConfig | None = None):
    """Render plan rows (<= BATCH) -> (native: list of (12, T) WFDB or (8, T) MUSE quantised mV at the file rate,
    standardised (B, 12, 5000) float32, measured heart rate (B,))."""
    cfg = cfg or SimConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, batch_index]))
    p = {k[3:]: rows[k].to_numpy() for k in rows.columns if k.startswith("_r_")}
    p["af_rhythm"] = rows["af_rhythm"].to_numpy().astype(bool)
    p["axis_deg"] = p["axis_deg"] + rng.normal(0, 3.0, len(rows))  # electrode placement, per ECG
    v, hr = dipole.render_dipole(p, rng)
    v = v + _fibrillatory_waves(p["af_rhythm"], rng)
    x8 = dipole.leads_from_dipole(v) * rng.uniform(0.95, 1.05, (len(rows), 1, 1))
    x8 = add_noise(x8, rng, cfg)
    native, std = [], np.empty((len(rows), 12, dipole.N), np.float32)
    for i, (fs, fmt) in enumerate(zip(rows["fs"].to_numpy(), rows["format"].to_numpy())):
        x = x8[i].astype(np.float64)
        if fs == 250:
            x = resample_poly(x, 1, 2, axis=-1)
        x = np.round(x / LSB[fmt]) * LSB[fmt]
        if fmt == "wfdb":  # WFDB stores all 12 leads, each rounded to the format's resolution
            x = np.round(dipole.twelve_from_eight(x) / LSB[fmt]) * LSB[fmt]
        native.append(x)
        up = resample_poly(x, 2, 1, axis=-1) if fs == 250 else x
        std[i] = up if fmt == "wfdb" else dipole.twelve_from_eight(up)
    return native, std, hr


def _fibrillatory_waves(af: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """f-waves (4-8 Hz, 30-80 uV, slowly wandering frequency) along a right-atrial direction, for AF strips."""
    out = np.zeros((len(af), 3, dipole.N))
    idx = np.flatnonzero(af)
    if len(idx):
        t = np.arange(dipole.N) / dipole.FS
        f = rng.uniform(4, 8, (len(idx), 1)) + 0.5 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6, (len(idx), 1)))
        w = rng.uniform(0.03, 0.08, (len(idx), 1)) * np.sin(2 * np.pi * np.cumsum(f, 1) / dipole.FS)
        out[idx] = w[:, None, :] * np.array([-0.3, 0.3, -0.6])[None, :, None]
    return out


def simulate(n_patients: int, seed: int, cfg: SimConfig | None = None):
    """In-memory cohort: (records DataFrame, signals (n, 12, 5000) float32 at 500 Hz, oracle DataFrame).

    `records` carries the cohort label columns (bench.base.cohort), the planted measurements (hr_bpm, pr_ms, p_dur_ms,
    qrs_ms, qt_ms) and the planted markers (marker_*); row i <-> signals[i] <-> oracle row i. The signals equal
    what reading the written files and standardising them returns (same rate round trip and quantisation).
    """
    from bench.base.labels import labels_to_records

    cfg = cfg or SimConfig()
    plan, oracle = plan_cohort(n_patients, seed, cfg)
    signals = np.empty((len(plan), 12, dipole.N), np.float32)
    hr = np.empty(len(plan))
    for b, s in enumerate(range(0, len(plan), BATCH)):
        _, signals[s:s + BATCH], hr[s:s + BATCH] = render_batch(plan.iloc[s:s + BATCH], b, seed, cfg)
    plan["hr_bpm"] = hr.round(1)
    records = labels_to_records(public_labels(plan), where=f"synthetic:{n_patients},seed={seed}")
    return records, signals, oracle


def public_labels(plan: pd.DataFrame) -> pd.DataFrame:
    """The columns written to labels.csv (drops render parameters)."""
    cols = [c for c in plan.columns if not c.startswith("_r_")]
    return plan[cols].copy()
