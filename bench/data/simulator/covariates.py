"""Clinical covariates of simulated patients (the CHARGE-AF variables) and their share of the planted AF hazard.

Covariates are drawn AFTER the ECG markers, from a separate random stream and conditioned on them, so the
waveforms of an existing seed are unchanged while the joint distribution carries the realistic links:
- systolic pressure rises with QRS voltage (LVH), P-wave duration and left-atrial abnormality (PTFV1): the ECG
  partly shows hypertension;
- heart failure is likelier the higher the patient's risk of LVEF <= 40 % (wide QRS, LBBB, low voltage, scar);
- a known prior MI is likelier with an infarct scar (about a third of scars are unrecognised infarcts).
Prevalences are those of the CHARGE-AF cohorts (ARIC, CHS, FHS; Alonso et al., JAHA 2013, Table 1) as ranges:
white ~80 %, smokers ~15 %, antihypertensive treatment ~35 %, diabetes ~12 %, heart failure ~3 %, prior MI ~8 %.

`charge_af_linear` is the CHARGE-AF 5-year linear predictor without its age term (age already enters the
simulator's Gompertz hazard at the same 1.66 per 5 years), per unit as published (fact sheet section 4a).
`covariate_log_density` is the part of log p(covariates | age, sex, markers) that depends on the markers, which
is what the clinical-only oracle needs to weight marker draws (importance sampling, see `oracles`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

#: CHARGE-AF coefficients per unit (Alonso 2013; fact sheet 4a, [V]); age is in the simulator's Gompertz term.
CHARGE_AF_BETA = {"white": 0.46491, "height_cm": 0.02478, "weight_kg": 0.0077, "sbp": 0.00986, "dbp": -0.01013,
                  "smoker": 0.35931, "bp_meds": 0.34889, "diabetes": 0.23666, "heart_failure": 0.70127,
                  "prior_mi": 0.49596}
#: Columns written to labels.csv (besides age and sex, which the cohort already carries).
COVARIATE_COLUMNS = ("race", "height_cm", "weight_kg", "sbp", "dbp", "smoker", "bp_meds", "diabetes",
                     "heart_failure", "prior_mi")
RACES = ("white", "black", "asian", "other")
RACE_P = (0.80, 0.12, 0.04, 0.04)
SBP_SD = 16.0
#: P(known prior MI | scar), P(known prior MI | no scar): unrecognised infarcts and non-Q infarcts.
PRIOR_MI_P = (0.02, 0.60)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, float)))


def _logit(p):
    p = np.clip(np.asarray(p, float), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def sbp_mean(traits: pd.DataFrame) -> np.ndarray:
    """Mean systolic pressure given age, sex and the markers hypertension leaves on the ECG."""
    a10 = (traits["age0"].to_numpy() - 60.0) / 10.0
    return (126.0 + 5.0 * a10 + 4.0 * traits["sex"].to_numpy()
            + 6.0 * np.log(traits["qrs_gain"].to_numpy()) / 0.22
            + 4.0 * (traits["pdur"].to_numpy() - 104.0) / 11.0 + 6.0 * traits["ptfv1"].to_numpy())


def heart_failure_p(p_lvsd: np.ndarray) -> np.ndarray:
    """P(heart failure diagnosis | the patient's true risk of LVEF <= 40 %): ~3 % overall, ~25 % at p_lvsd 0.5."""
    return _sigmoid(-1.1 + 1.0 * _logit(p_lvsd))


def draw_covariates(rng: np.random.Generator, traits: pd.DataFrame, p_lvsd: np.ndarray) -> pd.DataFrame:
    """One row per patient (row-aligned with `traits`): race, height, weight, blood pressure, risk factors."""
    n = len(traits)
    male = traits["sex"].to_numpy()
    a10 = (traits["age0"].to_numpy() - 60.0) / 10.0
    race = np.array(RACES)[rng.choice(len(RACES), size=n, p=RACE_P)]
    height = np.clip(rng.normal(np.where(male == 1, 176.0, 162.0) - 1.0 * a10, 7.0), 135, 210)
    weight = np.clip(rng.normal(np.where(male == 1, 86.0, 73.0) + 0.4 * (height - 169.0), 14.0), 38, 200)
    sbp = np.clip(rng.normal(sbp_mean(traits), SBP_SD), 85, 230)
    dbp = np.clip(rng.normal(76.0 + 0.3 * (sbp - 128.0) - 2.0 * a10, 8.0), 40, 130)
    dbp = np.minimum(dbp, sbp - 15.0)
    bp_meds = rng.random(n) < _sigmoid(-0.9 + 0.05 * (sbp - 130.0) + 0.5 * a10)
    smoker = rng.random(n) < _sigmoid(-1.7 - 0.3 * a10)
    diabetes = rng.random(n) < _sigmoid(-2.1 + 0.3 * a10 + 0.02 * (weight - 80.0))
    heart_failure = rng.random(n) < heart_failure_p(p_lvsd)
    prior_mi = rng.random(n) < np.where(traits["scar"].to_numpy(), PRIOR_MI_P[1], PRIOR_MI_P[0])
    return pd.DataFrame({"race": race, "height_cm": height.round(1), "weight_kg": weight.round(1),
                         "sbp": sbp.round(), "dbp": dbp.round(), "smoker": smoker.astype(np.int8),
                         "bp_meds": bp_meds.astype(np.int8), "diabetes": diabetes.astype(np.int8),
                         "heart_failure": heart_failure.astype(np.int8), "prior_mi": prior_mi.astype(np.int8)})


def charge_af_linear(cov: pd.DataFrame) -> np.ndarray:
    """CHARGE-AF linear predictor without age, centred on a typical patient (white 0.8, 169 cm, 80 kg, 130/78)."""
    b = CHARGE_AF_BETA
    white = (cov["race"].to_numpy() == "white").astype(float)
    return (b["white"] * (white - 0.8) + b["height_cm"] * (cov["height_cm"].to_numpy() - 169.0)
            + b["weight_kg"] * (cov["weight_kg"].to_numpy() - 80.0) + b["sbp"] * (cov["sbp"].to_numpy() - 130.0)
            + b["dbp"] * (cov["dbp"].to_numpy() - 78.0)
            + sum(b[c] * cov[c].to_numpy().astype(float)
                  for c in ("smoker", "bp_meds", "diabetes", "heart_failure", "prior_mi")))


def covariate_log_density(cov: pd.DataFrame, traits: pd.DataFrame, p_lvsd: np.ndarray) -> np.ndarray:
    """log p(covariates | age, sex, markers) up to terms free of the markers: SBP, heart failure and prior MI are
    the covariates drawn given markers (rounding and clipping are ignored: they move no weight between marker
    draws of the same patient by more than the rounding of SBP to 1 mmHg)."""
    ld = norm.logpdf(cov["sbp"].to_numpy(float), sbp_mean(traits), SBP_SD)
    phf = heart_failure_p(p_lvsd)
    hf = cov["heart_failure"].to_numpy() == 1
    ld += np.log(np.where(hf, phf, 1.0 - phf))
    pmi = np.where(traits["scar"].to_numpy(), PRIOR_MI_P[1], PRIOR_MI_P[0])
    mi = cov["prior_mi"].to_numpy() == 1
    return ld + np.log(np.where(mi, pmi, 1.0 - pmi))
