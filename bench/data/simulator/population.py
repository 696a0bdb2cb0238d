"""Patient-level traits: demographics and the planted ECG markers (intervals, conduction, atrial and scar markers).

Every risk-bearing marker is a patient trait rendered identically in each of the patient's ECGs, so the oracle
(a function of these traits) is exact for every ECG. What varies between a patient's ECGs: noise, electrode
placement (small rotation and gain), the position of premature beats, the age at the ECG, the rhythm when AF is
already present.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.base.cohort import MI_TERRITORIES
from bench.data.simulator.config import TERRITORY_WEIGHTS, SimConfig


#: P(fragmented QRS | scar) and P(fQRS | no scar): fQRS tracks scar (Das 2006: Se 86 %, Sp 89 % for SPECT scar,
#: pooled Se 68 %, Sp 80 %), kept weaker here (Se 60 %, 1 - Sp 25 %) so it adds information beyond the Q waves.
#: Sized with `or_fqrs` / `or_mi_fqrs` so the fQRS-blind oracle loses a margin that excludes 0 at the `small` grid's
#: test size (tests/test_fqrs_power.py).
FQRS_P_SCAR = 0.60
FQRS_P_NO_SCAR = 0.25


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def draw_patients(rng: np.random.Generator, n: int, cfg: SimConfig) -> pd.DataFrame:
    """One row per patient: age at the first ECG, sex and the planted markers (ms, mV, flags)."""
    age = np.clip(rng.normal(cfg.age_mean, cfg.age_sd, n), 25, 95)
    male = (rng.random(n) < cfg.male_fraction).astype(np.int8)
    return draw_markers(rng, age, male, cfg)


def draw_markers(rng: np.random.Generator, age: np.ndarray, male: np.ndarray, cfg: SimConfig) -> pd.DataFrame:
    """The planted markers of patients of the given ages and sexes (also used to marginalise them in oracles)."""
    n = len(age)
    a10 = (age - 60.0) / 10.0

    hr = np.clip(rng.normal(68.0, 10.0, n), 45, 125)
    pr = np.clip(rng.normal(158.0 + 4.0 * a10, 20.0, n), 105, 300)
    pdur = np.clip(rng.normal(104.0 + 3.0 * a10 + 2.0 * male, 11.0, n), 75, 160)
    adv_iab = rng.random(n) < _sigmoid(-3.4 + 0.5 * a10)
    pdur = np.where(adv_iab, np.maximum(pdur, rng.uniform(122, 150, n)), pdur)
    pr = np.maximum(pr, pdur + 30.0)  # a PR segment of at least 30 ms
    ptfv1 = rng.random(n) < _sigmoid(-2.2 + 0.3 * a10)
    pac = rng.random(n) < _sigmoid(-2.3 + 0.6 * a10)

    lbbb = rng.random(n) < _sigmoid(-3.6 + 0.5 * a10)
    qrs = np.clip(rng.normal(90.0 + 6.0 * male + 1.5 * a10, 9.0, n), 68, 118)
    qrs = np.where(lbbb, rng.uniform(128, 168, n), qrs)
    qrs_gain = np.exp(rng.normal(0.0, 0.22, n)) * np.where(male == 1, 1.0, 0.86)
    low_voltage = qrs_gain < 0.62
    t_inversion = rng.random(n) < _sigmoid(-2.6 + 0.3 * a10)
    qtc = rng.normal(412.0 + 8.0 * (1 - male), 18.0, n)
    axis_deg = rng.normal(0.0, 14.0, n)  # frontal-plane rotation of the heart
    horiz_deg = rng.normal(0.0, 10.0, n)  # transverse-plane rotation

    scar = rng.random(n) < cfg.mi_prevalence * _sigmoid(0.4 * a10 + 0.5 * male - 0.2) / 0.45
    w = np.array([TERRITORY_WEIGHTS[t] for t in MI_TERRITORIES], float)
    territory = rng.choice(len(MI_TERRITORIES), size=n, p=w / w.sum())
    scar_mv = np.where(scar, rng.uniform(0.06, 0.45, n), 0.0)
    fqrs = rng.random(n) < np.where(scar, FQRS_P_SCAR, FQRS_P_NO_SCAR)
    fqrs_territory = np.where(scar, territory, rng.choice(len(MI_TERRITORIES), size=n, p=w / w.sum()))

    # individual morphology (not risk-bearing): P and T gains, left-atrial posterior force, notch shape (each half of
    # the fQRS notch 20-50 uV, FWHM 2.355 sigma = 5-8 ms), and small
    # perturbations of the septal / main / terminal QRS vectors, fixed per patient so their ECGs look alike
    morph = {"p_gain": np.exp(rng.normal(0.0, 0.2, n)), "t_gain": np.exp(rng.normal(0.0, 0.18, n)),
             "la_z": np.where(ptfv1, rng.uniform(0.085, 0.12, n), rng.uniform(0.0, 0.035, n)),
             "fqrs_amp": rng.uniform(0.025, 0.05, n), "fqrs_sigma": rng.uniform(0.0021, 0.0034, n),
             "fqrs_pos": rng.uniform(0.55, 0.7, n)}
    for j in range(9):
        morph[f"qrs_shape_{j}"] = rng.normal(0.0, 1.0, n)
    return pd.DataFrame({
        **morph,
        "age0": age, "sex": male, "hr": hr, "pr": pr, "pdur": pdur, "adv_iab": adv_iab, "ptfv1": ptfv1,
        "pac": pac, "lbbb": lbbb, "qrs": qrs, "qrs_gain": qrs_gain, "low_voltage": low_voltage,
        "t_inversion": t_inversion, "qtc": qtc, "axis_deg": axis_deg, "horiz_deg": horiz_deg,
        "scar": scar, "scar_mv": scar_mv, "territory": territory, "fqrs": fqrs, "fqrs_territory": fqrs_territory,
    })
