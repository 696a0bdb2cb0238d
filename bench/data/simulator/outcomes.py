"""Known risk models, the oracle they imply, and outcome draws (AF time-to-event, LVEF, MI).

Design: markers first, outcomes drawn from known functions of the markers (X -> Y). The oracle is then exact:
- AF: prevalent AF before the first ECG ~ Bernoulli(p0(x)); incident AF from a proportional hazard
  h(t) = lam * exp(b.x + g * age(t)) (Gompertz in age, so age at any later ECG is handled in closed form), where
  b.x = ECG markers + the CHARGE-AF covariates (bench.data.simulator.covariates); prevalent AF from the markers
  and sex only, as in simulator 1.4.
  `oracle_surv_kk` is the net AF-free probability to day 73 k after that ECG (death and loss to follow-up are
  independent censoring given age), conditioned on the rhythm the strip shows; k = 0 is freedom from prevalent AF.
- LVEF <= 40 %: patient-level Bernoulli(p(x)); `oracle_p_lvef` = p(x).
- MI: the label given a scar of size s and fQRS; territory = the scar's territory (prior when no scar).
- `oracle_p_lvef_no_fqrs`, `oracle_p_mi_no_fqrs`: the same for a reader blind to the fine-detail fQRS notch (fQRS
  marginalised given the scar): the known answer of the image-resolution comparison.
The oracle conditions on the planted (noise-free) markers, so it is an upper bound for any model on the signals.
Intercepts are solved on a fixed reference population so the configured rates hold on average.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from bench.base.cohort import MI_TERRITORIES
from bench.data.simulator.config import HORIZON_DAYS, INTERVAL_DAYS, N_INTERVALS, TERRITORY_WEIGHTS, SimConfig
from bench.data.simulator.covariates import charge_af_linear, draw_covariates
from bench.data.simulator.population import FQRS_P_NO_SCAR, FQRS_P_SCAR, draw_patients

_YEAR = 365.25


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def af_linear(t: pd.DataFrame, cov: pd.DataFrame, cfg: SimConfig) -> np.ndarray:
    """Incident AF log-hazard ratio without the age term: ECG markers (`t`, times `cfg.af_marker_scale`) plus the
    CHARGE-AF covariates (`cov`) when `cfg.charge_af`, else plus sex (simulator 1.4's hazard: the covariates then
    carry no AF risk of their own). Every oracle reads the incident hazard from here (via `af_risk_terms`)."""
    markers = cfg.af_marker_scale * af_marker_linear(t, cfg)
    if cfg.charge_af:
        return markers + cfg.effect_scale * charge_af_linear(cov)
    return markers + _af_male_linear(t, cfg)


def af_prevalent_linear(t: pd.DataFrame, cfg: SimConfig) -> np.ndarray:
    """AF before the first ECG, log-odds without age and intercept: the ECG markers and sex, not the covariates
    nor `af_marker_scale` (CHARGE-AF models incident AF; keeping prevalence as in simulator 1.4 keeps the AF
    strips of every first ECG, so their waveforms, of a seed unchanged)."""
    return af_marker_linear(t, cfg) + _af_male_linear(t, cfg)


def _af_male_linear(t: pd.DataFrame, cfg: SimConfig) -> np.ndarray:
    return cfg.effect_scale * np.log(cfg.hr_male) * t["sex"].to_numpy()


def af_marker_linear(t: pd.DataFrame, cfg: SimConfig) -> np.ndarray:
    """The ECG markers' share of the AF log-hazard ratio."""
    s = cfg.effect_scale
    return s * (np.log(cfg.hr_pdur_per_10ms) * (t["pdur"] - 105.0) / 10.0
                + np.log(cfg.hr_adv_iab) * t["adv_iab"] + np.log(cfg.hr_ptfv1) * t["ptfv1"]
                + np.log(cfg.hr_pr_per_20ms) * (t["pr"] - 160.0) / 20.0 + np.log(cfg.hr_pac) * t["pac"]).to_numpy()


def _age_rate(cfg: SimConfig) -> float:
    return cfg.effect_scale * np.log(cfg.hr_age_per_5y) / 5.0  # per year


def lvsd_linear(t: pd.DataFrame, cfg: SimConfig) -> np.ndarray:
    s = cfg.effect_scale
    return s * (np.log(cfg.or_qrs_per_10ms) * (np.minimum(t["qrs"], 125.0) - 95.0) / 10.0
                + np.log(cfg.or_lbbb) * t["lbbb"] + np.log(cfg.or_low_voltage) * t["low_voltage"]
                + np.log(cfg.or_t_inversion) * t["t_inversion"] + np.log(cfg.or_hr_per_10bpm) * (t["hr"] - 68.0) / 10.0
                + np.log(cfg.or_scar_per_01mv) * t["scar_mv"] / 0.1 + np.log(cfg.or_fqrs) * t["fqrs"]
                + np.log(cfg.or_lvsd_male) * t["sex"] + np.log(cfg.or_lvsd_age_per_10y) * (t["age0"] - 60.0) / 10.0
                ).to_numpy()


def mi_probability(t: pd.DataFrame, cfg: SimConfig) -> np.ndarray:
    """P(MI label | markers): high for large scars, a few per cent without a scar (non-Q MI)."""
    s = cfg.effect_scale
    with_scar = -0.8 + s * 12.0 * t["scar_mv"].to_numpy()
    without = -3.8 + s * (0.3 * (t["age0"].to_numpy() - 60.0) / 10.0 + 0.4 * t["sex"].to_numpy())
    lin = np.where(t["scar"].to_numpy(), with_scar, without) + s * np.log(cfg.or_mi_fqrs) * t["fqrs"].to_numpy()
    return _sigmoid(lin)


def af_cumhaz(lam, lin, age_start, t0_days, t1_days, g):
    """Cumulative AF hazard between days t0 and t1 after the first ECG (age at the first ECG = age_start)."""
    base = lam * np.exp(lin + g * (age_start - 60.0))
    return base * (np.exp(g * t1_days / _YEAR) - np.exp(g * t0_days / _YEAR)) / (g / _YEAR)


@lru_cache(maxsize=16)
def intercepts(cfg: SimConfig) -> dict[str, float]:
    """Intercepts that give the configured rates on a fixed 20,000-patient reference population."""
    ref = draw_patients(np.random.default_rng(20240601), 20000, cfg)
    lin_lv = lvsd_linear(ref, cfg)
    c0 = brentq(lambda c: _sigmoid(c + lin_lv).mean() - cfg.lvsd_prevalence, -40, 40)
    cov = draw_covariates(np.random.default_rng(20240602), ref, _sigmoid(c0 + lin_lv))
    lin_af, g = af_linear(ref, cov, cfg), _age_rate(cfg)
    age = ref["age0"].to_numpy()
    lin_prev = af_prevalent_linear(ref, cfg) + g * 5.0 * (age - 60.0) / 5.0
    b0 = brentq(lambda b: _sigmoid(b + lin_prev).mean() - cfg.af_prevalent, -30, 30)
    log_lam = brentq(lambda ll: (1 - np.exp(-af_cumhaz(np.exp(ll), lin_af, age, 0.0, HORIZON_DAYS, g))).mean()
                     - cfg.af_5y_incidence, -40, 10)
    return {"af_prev": b0, "af_log_lam": log_lam, "lvsd": c0}


def lvsd_probability(traits: pd.DataFrame, cfg: SimConfig) -> np.ndarray:
    """True P(LVEF <= 40 %) per patient."""
    return _sigmoid(intercepts(cfg)["lvsd"] + lvsd_linear(traits, cfg))


def af_risk_terms(traits: pd.DataFrame, cov: pd.DataFrame, cfg: SimConfig) -> pd.DataFrame:
    """Per patient: P(AF before the first ECG) and the incident hazard's terms (linear predictor, rate, age slope)."""
    ic = intercepts(cfg)
    lin_af, g = af_linear(traits, cov, cfg), _age_rate(cfg)
    age = traits["age0"].to_numpy()
    p_prev = _sigmoid(ic["af_prev"] + af_prevalent_linear(traits, cfg) + g * (age - 60.0))
    return pd.DataFrame({"p_af_prev": p_prev, "af_lin": lin_af,
                         "af_lam": np.full(len(traits), np.exp(ic["af_log_lam"])), "af_g": np.full(len(traits), g)})


def patient_risks(traits: pd.DataFrame, cov: pd.DataFrame, cfg: SimConfig) -> pd.DataFrame:
    """Per-patient true probabilities / hazard terms (`cov`: the covariates, row-aligned with `traits`)."""
    ic = intercepts(cfg)
    p_mi = mi_probability(traits, cfg)
    scar = traits["scar"].to_numpy().astype(bool)
    w = np.array([TERRITORY_WEIGHTS[t] for t in MI_TERRITORIES], float)
    prior = w / w.sum()
    terr = np.tile(prior, (len(traits), 1))
    # P(territory | MI, markers): the scar's own territory when there is a scar, the prior otherwise.
    onehot = np.eye(len(MI_TERRITORIES))[traits["territory"].to_numpy()]
    terr[scar] = onehot[scar]
    # the same probabilities for a reader blind to the fine-detail marker (fQRS marginalised given the scar)
    pf = np.where(scar, FQRS_P_SCAR, FQRS_P_NO_SCAR)
    no_f, with_f = traits.assign(fqrs=False), traits.assign(fqrs=True)
    p_lvsd_blind = (pf * _sigmoid(ic["lvsd"] + lvsd_linear(with_f, cfg))
                    + (1 - pf) * _sigmoid(ic["lvsd"] + lvsd_linear(no_f, cfg)))
    p_mi_blind = pf * mi_probability(with_f, cfg) + (1 - pf) * mi_probability(no_f, cfg)
    out = af_risk_terms(traits, cov, cfg).assign(**{
        "p_lvsd": _sigmoid(ic["lvsd"] + lvsd_linear(traits, cfg)), "p_lvsd_no_fqrs": p_lvsd_blind,
        "p_mi": p_mi, "p_mi_no_fqrs": p_mi_blind,
    })
    for j, t in enumerate(MI_TERRITORIES):
        out[f"p_{t}"] = terr[:, j]
    return out


def draw_patient_outcomes(rng: np.random.Generator, traits: pd.DataFrame, risks: pd.DataFrame,
                          last_ecg_day: np.ndarray, cfg: SimConfig) -> pd.DataFrame:
    """AF day (inf if none; 0 if before the first ECG), death and loss-to-follow-up days, LVEF, MI and territory."""
    n = len(traits)
    age = traits["age0"].to_numpy()
    prevalent = rng.random(n) < risks["p_af_prev"].to_numpy()
    # incident AF by inverting the closed-form cumulative hazard
    e = -np.log(rng.random(n))
    base = risks["af_lam"].to_numpy() * np.exp(risks["af_lin"].to_numpy() + risks["af_g"].to_numpy() * (age - 60.0))
    g = risks["af_g"].to_numpy()
    af_day = _YEAR / g * np.log1p(e * (g / _YEAR) / base)
    af_day = np.where(prevalent, 0.0, af_day)
    # death: Gompertz in age, conditioned on being alive at the last ECG
    k = np.log(2.0) / cfg.death_doubling_years
    h_last = cfg.death_per_year_at_55 * np.exp(k * (age + last_ecg_day / _YEAR - 55.0))
    death_day = last_ecg_day + _YEAR / k * np.log1p(k * (-np.log(rng.random(n))) / h_last)
    loss_day = last_ecg_day + _YEAR * rng.exponential(1.0 / cfg.loss_per_year, n)
    lvsd = rng.random(n) < risks["p_lvsd"].to_numpy()
    lvef = np.where(lvsd, np.clip(40.0 - np.abs(rng.normal(0, 9.0, n)), 12, 40),
                    np.clip(62.0 + rng.normal(0, 6.0, n), 41, 80)).round()
    mi = rng.random(n) < risks["p_mi"].to_numpy()
    pr = risks[[f"p_{t}" for t in MI_TERRITORIES]].to_numpy()
    u = rng.random(n)[:, None]
    terr = (u > np.cumsum(pr, axis=1)).sum(axis=1).clip(0, len(MI_TERRITORIES) - 1)
    return pd.DataFrame({"af_day": af_day, "prevalent": prevalent, "death_day": death_day, "loss_day": loss_day,
                         "lvef": lvef, "mi": mi.astype(np.int8),
                         "mi_territory": np.where(mi, np.array(MI_TERRITORIES)[terr], "")})


def af_free_joint(risks_rows: pd.DataFrame, age0: np.ndarray, ecg_day: np.ndarray, cfg: SimConfig
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per ECG, given the patient's markers, before looking at the strip: (P(no AF by day 73 k after the ECG),
    k = 0 .. N_INTERVALS - 1, (n_ecg, N_INTERVALS); P(the strip shows sinus rhythm), (n_ecg,)). Day 0 is the ECG's
    own day: no AF on or before it means no prevalent AF."""
    lam, lin, g = (risks_rows[c].to_numpy() for c in ("af_lam", "af_lin", "af_g"))
    p0 = risks_rows["p_af_prev"].to_numpy()
    days = ecg_day[:, None] + INTERVAL_DAYS * np.arange(N_INTERVALS)[None, :]
    free = (1 - p0[:, None]) * np.exp(-af_cumhaz(lam[:, None], lin[:, None], age0[:, None], 0.0, days, g[:, None]))
    # AF by the ECG shows as AF rhythm with probability af_rhythm_if_prevalent; AF-free always shows sinus
    p_sinus = 1.0 - cfg.af_rhythm_if_prevalent * (1.0 - free[:, 0])
    return free, p_sinus


def condition_on_strip(free: np.ndarray, p_sinus: np.ndarray, af_rhythm: np.ndarray) -> np.ndarray:
    """P(no AF by day 73 k | rhythm on the strip): 0 on an AF strip; on a sinus strip P(no AF by day 73 k) /
    P(sinus), since being AF-free at the ECG implies a sinus strip."""
    return np.where(af_rhythm[:, None], 0.0, free / p_sinus[:, None])


def ecg_oracle_surv(risks_rows: pd.DataFrame, age0: np.ndarray, ecg_day: np.ndarray, af_rhythm: np.ndarray,
                    cfg: SimConfig) -> np.ndarray:
    """(n_ecg, N_INTERVALS) true S_k = P(no AF by day 73 k after the ECG | markers, rhythm on the strip).

    Column 0 is P(no prevalent AF | markers, strip): on a sinus strip it keeps the chance of paroxysmal AF before
    the ECG. The incident survival S_k / S_0 = P(no AF by day 73 k | no AF by the ECG, markers) carries none of it
    (the strip tells nothing more once AF before the ECG is ruled out), and that ratio is what the AF task's
    incident metrics read."""
    return condition_on_strip(*af_free_joint(risks_rows, age0, ecg_day, cfg), af_rhythm)
