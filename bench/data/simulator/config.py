"""Simulator parameters: rates, effect sizes, noise levels and follow-up rules, in one frozen dataclass.

Defaults follow the published numbers (see the fact sheet in the project docs) with three deliberate departures, so
a few hundred patients give a learnable signal for smoke tests:

- outcome rates sit at the high end of the published ranges: AF 5-y net incidence 8 % (primary care 3-6 %),
  LVEF <= 40 % in 8 % of patients (echo-referred 5-15 %, community 2-3 %), MI scar in 15 % (PTB-XL ~25 %,
  community ~5 %);
- marker effects are stronger than published (e.g. PTFV1 HR 2.0 vs 1.23, PACs HR 2.5) and `effect_scale`
  multiplies every log-hazard / log-odds coefficient (LVEF oracle AUROC ~0.92, MI ~0.94, AF 5-y C-index ~0.9,
  at the high end of published ECG-AI results);
- the fine-detail marker (fQRS, a 20-50 uV, 5-8 ms notch) is common (60 % with scar, 25 % without) and strong
  (LVEF <= 40 % OR 12, MI OR 12 given the scar), so a reader blind to it loses a share of the oracle's
  discrimination (`oracle_p_*_no_fqrs`) whose 95 % patient-bootstrap interval excludes 0 at the `small` grid's
  test size (~375 patients; computed in tests/test_fqrs_power.py, numbers in the README): the image-resolution
  comparison has a known, visible answer. Published: fQRS for LVEF < 48 % OR 4.4 (95 % CI 2.1-9.1; adjusted for
  race 4.1, CI 1.1-15.7; Alattar 2015); fQRS in 32.5 % of patients with LVEF <= 35 % (Cheema 2010); for scar
  Se 86 % / Sp 89 % (Das 2006, OR ~50), pooled Se 68 % / Sp 80 % (OR ~8.5).
Set `af_5y_incidence=0.045, lvsd_prevalence=0.025, mi_prevalence=0.05, effect_scale=0.6` for a community-like
cohort (any field is also an option of the source spec: `synthetic:2000,seed=1,effect_scale=0.6`).

`af_marker_scale` multiplies the ECG markers' log-hazard ratios in INCIDENT AF only (prevalent AF, so every first
ECG's rhythm and waveform, is the same at any scale; a patient's later ECG can turn into an AF strip when the
changed hazard moves an incident AF before it: 68 of 4,500 later ECGs at scale 2 below). At 1 the waveform carries
less AF risk than CHARGE-AF's covariates; at 2 about as much, as in the ECG-AI paper (AUROC 0.82 ECG vs 0.80
clinical). All-ECG Harrell C of the oracles on `synthetic:5000,seed=2,charge_af=1,af_5y_incidence=0.15` (9,500
ECGs, 5-year incident AF): scale 1: full 0.865, clinical-only 0.845, ECG-only (markers, age, sex) 0.852, waveform
0.769; scale 2: full 0.904, clinical-only 0.841, ECG-only 0.893, waveform 0.844.
"""
from __future__ import annotations

from dataclasses import dataclass

# The AF survival grid is the cohort schema's (one definition); the simulator's modules read it from here.
from bench.base.cohort import HORIZON_DAYS, INTERVAL_DAYS, N_INTERVALS  # noqa: F401

#: Bumped whenever the generated signals or labels change for the same seed (part of every cache key).
SIM_VERSION = "1.6.0"  # 1.6: interval 0 = prevalent AF only in the oracle; fQRS sized for power (prevalence, ORs, notch 5-8 ms)

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
    # multiplies the ECG markers' share of the incident AF log-hazard only (prevalent AF keeps 1.0); see above
    af_marker_scale: float = 1.0
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
    or_fqrs: float = 12.0
    or_lvsd_male: float = 1.5
    or_lvsd_age_per_10y: float = 1.3
    # MI label given the ECG (scar size s in mV of removed early-QRS force)
    or_mi_fqrs: float = 12.0
    # noise (mV)
    emg_uv: tuple[float, float] = (3.0, 10.0)
    powerline_uv: tuple[float, float] = (2.0, 15.0)
    wander_mv: tuple[float, float] = (0.03, 0.2)
    electrode_motion_prob: float = 0.05
    # censoring
    loss_per_year: float = 0.06
    death_per_year_at_55: float = 0.01
    death_doubling_years: float = 8.0
