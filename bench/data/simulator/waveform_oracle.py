"""The waveform oracle: the best risk a reader of the ECG alone can give, on simulated cohorts.

The full oracle (`outcomes.patient_risks`, `ecg_oracle_surv`) scores an ECG with everything that caused its outcome:
age and sex (LVEF OR 1.3 per 10 y; MI without a scar; the AF hazard's Gompertz term, HR 1.66 per 5 y) and, with
`cfg.charge_af`, the CHARGE-AF covariates. The waveform shows age and sex only through the markers whose
distribution depends on them, so the full oracle overstates what an ECG model can reach. The waveform oracle is
E[full oracle | planted markers, the strip's rhythm]: age at the first ECG and sex integrated out over their
posterior given the markers and rhythm, the covariates over their own model given (age, sex, markers).

- Prior: age ~ normal(age_mean, age_sd) clipped to 25..95, on 1-year bins centred on 25..95 (the clip masses fall
  in the end bins; within a bin age is taken at its centre, 0.5 y at most off: 0.013 on the LVEF log-odds);
  sex ~ Bernoulli(male_fraction).
- Likelihood p(markers | age, sex): each factor of `population.draw_markers` that depends on age or sex, exactly,
  clip bounds as point masses: PR (normal, clipped, and the point mass of `max(pr, pdur + 30)`), P duration
  (clipped normal; with advanced IAB the max with U(122, 150) and its mass at the 160 ms clip), advanced IAB,
  PTFV1, PACs, LBBB, QRS duration unless LBBB (the LBBB width is uniform, free of age), QRS gain (lognormal,
  sex-scaled; low voltage is a function of it), T inversion, QTc, scar. Heart rate, axes, territory, scar size,
  fQRS and the morphology draws do not depend on age or sex and cancel. The markers must be the in-memory traits
  (the PR point mass is found by exact equality), not the rounded `marker_*` columns.
- Rhythm: P(the strip shows AF | age, sex, markers, covariates) = af_rhythm_if_prevalent x P(AF by the ECG); the
  full oracle conditions on it, so the posterior does too (an AF strip points to an older patient).
- The ECG's day after the patient's first ECG is taken as known, as in the full oracle (a few years of age at most).
- Covariates (charge_af only; without it they carry no AF risk): `N_COV_DRAWS` draws per grid point from
  `covariates.draw_covariates`, from the caller's random stream, so no label or waveform changes.
The P-wave markers are conditioned on even on an AF strip, where they are not visible: an upper bound there.
Hand-written: the likelihood is the simulator's own generative model; no library integrates it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import log_expit
from scipy.stats import norm

from bench.data.simulator.config import SimConfig
from bench.data.simulator.covariates import draw_covariates
from bench.data.simulator.outcomes import (af_cumhaz, af_risk_terms, ecg_oracle_surv, lvsd_probability,
                                           mi_probability)

#: Age grid (years at the first ECG): the simulator's clip range by 1 year.
AGES = np.arange(25.0, 96.0)
#: Covariate draws per (age, sex) grid point when they carry AF risk (`charge_af`).
N_COV_DRAWS = 4


def age_sex_grid(cfg: SimConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ages, male flags, log prior) of the grid points: every age with female, then every age with male."""
    edges = np.r_[-np.inf, AGES[:-1] + 0.5, np.inf]
    p_age = np.diff(norm.cdf(edges, cfg.age_mean, cfg.age_sd))
    age = np.tile(AGES, 2)
    male = np.repeat([0, 1], len(AGES))
    log_prior = np.log(np.tile(p_age, 2)) + np.log(np.where(male == 1, cfg.male_fraction, 1 - cfg.male_fraction))
    return age, male, log_prior


def _bernoulli(flag: np.ndarray, logit: np.ndarray) -> np.ndarray:
    return np.where(flag, log_expit(logit), log_expit(-logit))


def _clipped_normal(x: np.ndarray, mu: np.ndarray, sd: float, lo: float, hi: float) -> np.ndarray:
    """log density of clip(normal(mu, sd), lo, hi) at x: the clip bounds carry point masses."""
    return np.where(x <= lo, norm.logcdf(lo, mu, sd), np.where(x >= hi, norm.logsf(hi, mu, sd),
                                                               norm.logpdf(x, mu, sd)))


def marker_log_likelihood(traits: pd.DataFrame, age: np.ndarray, male: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """(n patients, n grid points) log p(markers | age, sex) up to terms free of age and sex."""
    a10, m = (np.asarray(age, float)[None, :] - 60.0) / 10.0, np.asarray(male, float)[None, :]

    def col(c):
        return traits[c].to_numpy().astype(float)[:, None]

    pr, pdur, adv = col("pr"), col("pdur"), col("adv_iab") == 1
    # PR: clip(normal, 105, 300), then raised to pdur + 30 (a point mass: every draw below it lands there)
    mu_pr = 158.0 + 4.0 * a10
    at_floor = pr == pdur + 30.0
    ll = np.where(at_floor, norm.logcdf(pdur + 30.0, mu_pr, 20.0), _clipped_normal(pr, mu_pr, 20.0, 105.0, 300.0))
    # P duration: clip(normal, 75, 160); with advanced IAB the max with U(122, 150)
    mu_p = 104.0 + 3.0 * a10 + 2.0 * m
    with np.errstate(divide="ignore"):
        in_u = (pdur >= 122.0) & (pdur <= 150.0)
        max_density = np.logaddexp(norm.logpdf(pdur, mu_p, 11.0) + np.log(np.clip(pdur - 122.0, 0, None) / 28.0),
                                   norm.logcdf(pdur, mu_p, 11.0) - np.log(28.0))
    ll += np.where(adv & in_u, max_density, _clipped_normal(pdur, mu_p, 11.0, 75.0, 160.0))
    ll += _bernoulli(adv, -3.4 + 0.5 * a10)
    ll += _bernoulli(col("ptfv1") == 1, -2.2 + 0.3 * a10)
    ll += _bernoulli(col("pac") == 1, -2.3 + 0.6 * a10)
    lbbb = col("lbbb") == 1
    ll += _bernoulli(lbbb, -3.6 + 0.5 * a10)
    ll += np.where(lbbb, 0.0, _clipped_normal(col("qrs"), 90.0 + 6.0 * m + 1.5 * a10, 9.0, 68.0, 118.0))
    ll += norm.logpdf(np.log(col("qrs_gain")), np.where(m == 1, 0.0, np.log(0.86)), 0.22)
    ll += _bernoulli(col("t_inversion") == 1, -2.6 + 0.3 * a10)
    ll += norm.logpdf(col("qtc"), 412.0 + 8.0 * (1 - m), 18.0)
    p_scar = np.clip(cfg.mi_prevalence * (1 / (1 + np.exp(-(0.4 * a10 + 0.5 * m - 0.2)))) / 0.45, 1e-300, 1.0)
    scar = col("scar") == 1
    with np.errstate(divide="ignore"):
        ll += np.where(scar, np.log(p_scar), np.log1p(-np.minimum(p_scar, 1.0)))
    return ll


def age_sex_posterior(traits: pd.DataFrame, cfg: SimConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ages, male flags, (n patients, n grid points) posterior weights given the markers alone)."""
    age, male, log_prior = age_sex_grid(cfg)
    lw = marker_log_likelihood(traits, age, male, cfg) + log_prior[None, :]
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    return age, male, w / w.sum(axis=1, keepdims=True)


def _af_strip_probability(risks: pd.DataFrame, age0: np.ndarray, ecg_day: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """P(the ECG shows AF rhythm | age, sex, markers, covariates): prevalent by the ECG, shown as AF (the simulator's
    rhythm draw in `generate.plan_cohort`; its survival term is `ecg_oracle_surv`'s at the ECG day)."""
    lam, lin, g = (risks[c].to_numpy() for c in ("af_lam", "af_lin", "af_g"))
    af_free = (1 - risks["p_af_prev"].to_numpy()) * np.exp(-af_cumhaz(lam, lin, age0, 0.0, ecg_day, g))
    return cfg.af_rhythm_if_prevalent * (1.0 - af_free)


def waveform_oracle(rng: np.random.Generator, traits: pd.DataFrame, pidx: np.ndarray, ecg_day: np.ndarray,
                    af_rhythm: np.ndarray, cfg: SimConfig) -> pd.DataFrame:
    """One row per ECG: `surv_kk` (AF-free survival to each interval end, as many as `ecg_oracle_surv` gives),
    `p_lvef` (P(LVEF <= 40 %)) and `p_mi`, each the full oracle averaged over the posterior of age, sex (and
    covariates) given the patient's markers (`traits`, one row per patient; `pidx` maps ECGs to patients) and the
    ECG's rhythm."""
    age, male, log_prior = age_sex_grid(cfg)
    lw = marker_log_likelihood(traits, age, male, cfg) + log_prior[None, :]
    w_patient = np.exp(lw - lw.max(axis=1, keepdims=True))  # <= 1, the largest 1: no under- or overflow
    af_rhythm = np.asarray(af_rhythm, bool)
    n_draws = N_COV_DRAWS if cfg.charge_af else 1
    den = np.zeros(len(pidx))
    num_lv, num_mi, num_surv = np.zeros(len(pidx)), np.zeros(len(pidx)), None
    for k in range(len(age)):
        tg = traits.assign(age0=np.full(len(traits), age[k]), sex=np.full(len(traits), male[k], np.int8))
        p_lv = lvsd_probability(tg, cfg)
        p_mi = mi_probability(tg, cfg)
        age0 = np.full(len(pidx), age[k])
        for _ in range(n_draws):
            cov = draw_covariates(rng, tg, p_lv) if cfg.charge_af else None
            risks = af_risk_terms(tg, cov, cfg).iloc[pidx].reset_index(drop=True)
            p_af_strip = _af_strip_probability(risks, age0, ecg_day, cfg)
            w = w_patient[pidx, k] * np.where(af_rhythm, p_af_strip, 1.0 - p_af_strip) / n_draws
            surv = ecg_oracle_surv(risks, age0, ecg_day, af_rhythm, cfg)
            num_surv = w[:, None] * surv if num_surv is None else num_surv + w[:, None] * surv
            den += w
            num_lv += w * p_lv[pidx]
            num_mi += w * p_mi[pidx]
    out = pd.DataFrame({f"surv_{j:02d}": num_surv[:, j] / den for j in range(num_surv.shape[1])})
    out["p_lvef"] = num_lv / den
    out["p_mi"] = num_mi / den
    return out
