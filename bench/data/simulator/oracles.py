"""The two partial AF oracles: true AF-free survival given the clinical covariates only, and given the ECG only.

Both marginalise the hidden half of the planted hazard, so "is the ECG similar to or complementary with the
clinical risk?" has a known answer on every simulated cohort:
- `oracle_ecg_surv_kk`: given the ECG markers plus the age and sex every ECG header records; the covariates are
  integrated out by Monte Carlo, drawing them from their own conditional model given those markers;
- `oracle_clinical_surv_kk`: given the CHARGE-AF covariates plus age and sex; the markers are integrated out by
  self-normalised importance sampling: marker sets drawn from p(markers | age, sex), weighted by
  p(covariates | age, sex, markers) (only SBP, heart failure and prior MI depend on the markers).
Averages are of survival curves (not of hazards), each conditioned on the rhythm the strip shows, like the full
oracle. Draws come from their own random streams, so they change no label or waveform. Hand-written: no library
integrates a custom generative model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.data.simulator.config import SimConfig
from bench.data.simulator.covariates import covariate_log_density, draw_covariates
from bench.data.simulator.outcomes import af_risk_terms, ecg_oracle_surv, lvsd_probability
from bench.data.simulator.population import draw_markers

#: Monte Carlo draws per patient (standard error of a 5-year risk ~ its spread / sqrt(draws)).
N_DRAWS = 64


def _surv(traits, cov, pidx, ecg_day, af_rhythm, cfg) -> np.ndarray:
    risks = af_risk_terms(traits, cov, cfg).iloc[pidx].reset_index(drop=True)
    return ecg_oracle_surv(risks, traits["age0"].to_numpy()[pidx], ecg_day, af_rhythm, cfg)


def ecg_only_surv(rng: np.random.Generator, traits: pd.DataFrame, p_lvsd: np.ndarray, pidx: np.ndarray,
                  ecg_day: np.ndarray, af_rhythm: np.ndarray, cfg: SimConfig, n_draws: int = N_DRAWS) -> np.ndarray:
    """(n_ecg, 25) E[S | markers, age, sex]: covariates drawn afresh `n_draws` times from their model."""
    total = np.zeros((len(pidx), 25))
    for _ in range(n_draws):
        total += _surv(traits, draw_covariates(rng, traits, p_lvsd), pidx, ecg_day, af_rhythm, cfg)
    return total / n_draws


def clinical_only_surv(rng: np.random.Generator, traits: pd.DataFrame, cov: pd.DataFrame, pidx: np.ndarray,
                       ecg_day: np.ndarray, af_rhythm: np.ndarray, cfg: SimConfig,
                       n_draws: int = N_DRAWS) -> np.ndarray:
    """(n_ecg, 25) E[S | covariates, age, sex]: markers drawn from p(markers | age, sex), importance-weighted."""
    age, male = traits["age0"].to_numpy(), traits["sex"].to_numpy()
    top = np.full(len(traits), -np.inf)  # running max log-weight per patient (streamed log-sum-exp)
    w_sum, ws_sum = np.zeros(len(traits)), np.zeros((len(pidx), 25))
    for _ in range(n_draws):
        m = draw_markers(rng, age, male, cfg)
        logw = covariate_log_density(cov, m, lvsd_probability(m, cfg))
        new_top = np.maximum(top, logw)
        shrink, w = np.exp(top - new_top), np.exp(logw - new_top)
        w_sum = w_sum * shrink + w
        ws_sum = ws_sum * shrink[pidx, None] + w[pidx, None] * _surv(m, cov, pidx, ecg_day, af_rhythm, cfg)
        top = new_top
    return ws_sum / w_sum[pidx, None]
