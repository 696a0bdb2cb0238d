"""Simulator parameters: rates, effect sizes, noise levels and follow-up rules, in one frozen dataclass.

Defaults follow the published numbers (see the fact sheet in the project docs) with three deliberate departures, so
a few hundred patients give a learnable signal for smoke tests:

- outcome rates sit at the high end of the published ranges: AF 5-y net incidence 8 % (primary care 3-6 %),
  LVEF <= 40 % in 8 % of patients (echo-referred 5-15 %, community 2-3 %), MI scar in 15 % (PTB-XL ~25 %,
  community ~5 %);
- marker effects are stronger than published (e.g. PTFV1 HR 2.0 vs 1.23, PACs HR 2.5) and `effect_scale`
  multiplies every log-hazard / log-odds coefficient (LVEF oracle AUROC ~0.92, MI ~0.94, AF 5-y C-index ~0.9,
  at the high end of published ECG-AI results);
- the fine-detail marker (fQRS, a 20-50 uV notch) is common (45 % with scar, 15 % without) and strong
  (LVEF <= 40 % OR 8, MI OR 5), so a reader blind to it loses a measurable share of the oracle's discrimination
  (`oracle_p_*_no_fqrs`): the image-resolution comparison has a known, visible answer.
Set `af_5y_incidence=0.045, lvsd_prevalence=0.025, mi_prevalence=0.05, effect_scale=0.6` for a community-like
cohort (any field is also an option of the source spec: `synthetic:2000,seed=1,effect_scale=0.6`).
"""
from __future__ import annotations

from dataclasses import dataclass

# The AF survival grid is the cohort schema's (one definition); the simulator's modules read it from here.
from bench.base.cohort import HORIZON_DAYS, INTERVAL_DAYS, N_INTERVALS  # noqa: F401

#: Bumped whenever the generated signals or labels change for the same seed (part of every cache key).
SIM_VERSION = "1.6.0"

#: PTB-XL record counts per MI territory (IMI 2685, ASMI 2363, ILMI 479, AMI 354, ALMI 290, LMI 201), normalised.
TERRITORY_WEIGHTS = {"AMI": 354, "ASMI": 2363, "ALMI": 290, "IMI": 2685, "ILMI": 479, "LMI": 201}


@dataclass(frozen=True)
class SimConfig:
    # population
    age_mean: float = 60.0
    age_sd: float = 13.0
    male_fraction: float = 0.48
    ecgs_per_patient_probs: tuple[float, ...] = (0.45, 0.30, 0.15, 0.10)  # 1, 2, 3, 4 ECGs
    fraction_250hz: float = 0.15
    fraction_muse_xml: float = 0.35  # the rest is WFDB
    # outcome rates
    af_5y_incidence: float = 0.08  # net of death / loss (no competing risk), among AF-free at the first ECG
    af_prevalent: float = 0.03  # AF before the first ECG
    af_rhythm_if_prevalent: float = 0.5  # prevalent AF shown as AF rhythm on the strip (else sinus, paroxysmal)
    af_statement_if_history: float = 0.3  # 'AF' in the statement of a sinus ECG of a patient with prior AF
    lvsd_prevalence: float = 0.08
    echo_fraction: float = 0.7  # ECGs with an LVEF within 6 months
    mi_prevalence: float = 0.15  # patients with an infarct scar
    effect_scale: float = 1.0
    # CHARGE-AF covariates plant incident-AF hazard (Alonso 2013 coefficients, SIMULATOR.md 4a). Off by default until
    # the committed reference runs are redone with it: off, incident AF is simulator 1.4's (ECG markers + sex) and
    # the covariates are drawn (given the markers) and written, but do not cause AF. `synthetic:N,charge_af=1`.
    charge_af: bool = False
    # AF log-hazard ratios (per unit stated)
    hr_age_per_5y: float = 1.66
    hr_male: float = 1.5  # prevalent AF; incident AF too unless charge_af (CHARGE-AF has no sex term: height carries it)
    hr_pdur_per_10ms: float = 1.25
    hr_adv_iab: float = 3.0
    hr_ptfv1: float = 2.0
    hr_pr_per_20ms: float = 1.15
    hr_pac: float = 2.5
    # LVEF <= 40 % log-odds ratios
    or_qrs_per_10ms: float = 1.8
    or_lbbb: float = 6.0
    or_low_voltage: float = 4.0
    or_t_inversion: float = 4.0
    or_hr_per_10bpm: float = 1.7
    or_scar_per_01mv: float = 2.5
    or_fqrs: float = 8.0
    or_lvsd_male: float = 1.5
    or_lvsd_age_per_10y: float = 1.3
    # MI label given the ECG (scar size s in mV of removed early-QRS force)
    or_mi_fqrs: float = 5.0
    # noise (mV)
    emg_uv: tuple[float, float] = (3.0, 10.0)
    powerline_uv: tuple[float, float] = (2.0, 15.0)
    wander_mv: tuple[float, float] = (0.03, 0.2)
    electrode_motion_prob: float = 0.05
    # censoring
    loss_per_year: float = 0.06
    death_per_year_at_55: float = 0.01
    death_doubling_years: float = 8.0
