"""The two partial AF oracles: true AF-free survival given the clinical covariates only, and given the ECG only.

Both marginalise the hidden half of the planted hazard, so "is the ECG similar to or complementary with the
clinical risk?" has a known answer on every simulated cohort:
- `oracle_ecg_surv_kk`: given the ECG markers plus the age and sex every ECG header records; the covariates are
  integrated out by Monte Carlo, drawing them from their own conditional model given those markers;
- `oracle_clinical_surv_kk`: given the CHARGE-AF covariates plus age and sex; the markers are integrated out by
  self-normalised importance sampling: marker sets drawn from p(markers | age, sex), weighted by
  p(covariates | age, sex, markers) (only SBP, heart failure and prior MI depend on the markers).
Averages are of AF-free probabilities (not of hazards), taken jointly with the sinus strip and then conditioned on
the rhythm the strip shows: P(no AF by day 73 k | part, strip) = E[P(no AF by day 73 k)] / E[P(sinus)] over the
hidden half, so the incident survival S_k / S_0 = E[P(no AF by day 73 k)] / E[P(no AF by the ECG)] holds no
prevalent probability, as in the full oracle. Draws come from their own random streams, so they change no label or
waveform. Hand-written: no library integrates a custom generative model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.data.simulator.config import N_INTERVALS, SimConfig
from bench.data.simulator.covariates import covariate_log_density, draw_covariates
from bench.data.simulator.outcomes import af_free_joint, af_risk_terms, condition_on_strip, lvsd_probability
from bench.data.simulator.population import draw_markers

#: Monte Carlo draws per patient (standard error of a 5-year risk ~ its spread / sqrt(draws)).
N_DRAWS = 64


def _joint(traits, cov, pidx, ecg_day, cfg) -> np.ndarray:
    """(n_ecg, N_INTERVALS + 1): P(no AF by day 73 k) for each k, then P(sinus strip), given one draw."""
    risks = af_risk_terms(traits, cov, cfg).iloc[pidx].reset_index(drop=True)
    free, p_sinus = af_free_joint(risks, traits["age0"].to_numpy()[pidx], ecg_day, cfg)
    return np.column_stack([free, p_sinus])


def ecg_only_surv(rng: np.random.Generator, traits: pd.DataFrame, p_lvsd: np.ndarray, pidx: np.ndarray,
                  ecg_day: np.ndarray, af_rhythm: np.ndarray, cfg: SimConfig, n_draws: int = N_DRAWS) -> np.ndarray:
    """(n_ecg, N_INTERVALS) S_k given markers, age, sex and strip: covariates drawn afresh `n_draws` times from
    their model."""
    total = np.zeros((len(pidx), N_INTERVALS + 1))
    for _ in range(n_draws):
        total += _joint(traits, draw_covariates(rng, traits, p_lvsd), pidx, ecg_day, cfg)
    return condition_on_strip(total[:, :-1], total[:, -1], af_rhythm)


def clinical_only_surv(rng: np.random.Generator, traits: pd.DataFrame, cov: pd.DataFrame, pidx: np.ndarray,
                       ecg_day: np.ndarray, af_rhythm: np.ndarray, cfg: SimConfig,
                       n_draws: int = N_DRAWS) -> np.ndarray:
    """(n_ecg, N_INTERVALS) S_k given covariates, age, sex and strip: markers drawn from p(markers | age, sex),
    importance-weighted."""
    age, male = traits["age0"].to_numpy(), traits["sex"].to_numpy()
    top = np.full(len(traits), -np.inf)  # running max log-weight per patient (streamed log-sum-exp)
    w_sum, ws_sum = np.zeros(len(traits)), np.zeros((len(pidx), N_INTERVALS + 1))
    for _ in range(n_draws):
        m = draw_markers(rng, age, male, cfg)
        logw = covariate_log_density(cov, m, lvsd_probability(m, cfg))
        new_top = np.maximum(top, logw)
        shrink, w = np.exp(top - new_top), np.exp(logw - new_top)
        w_sum = w_sum * shrink + w
        ws_sum = ws_sum * shrink[pidx, None] + w[pidx, None] * _joint(m, cov, pidx, ecg_day, cfg)
        top = new_top
    mean = ws_sum / w_sum[pidx, None]
    return condition_on_strip(mean[:, :-1], mean[:, -1], af_rhythm)
