"""Physiological 12-lead ECG simulator with planted markers and known (oracle) risk for the AF, LVEF and MI tasks.

- `simulate(n_patients, seed)` -> (records, signals (n, 12, 5000) float32 at 500 Hz, oracle), in memory;
- `bench.data.simulator.files.write_cohort(out, n_patients, seed)` (CLI: `python -m bench data synth`) writes the same
  ECGs as WFDB and GE MUSE-style XML files plus labels.csv and oracle.csv: a valid `folder:` source, and the
  `synthetic:N,seed=S` source generates it once into the cache and reads it back through the real readers.

The model, in short (numbers and sources in the config and module docstrings):
- signal: a 3D cardiac dipole of Gaussian P (right then left atrium), Q, R, S and T waves in Frank X, Y, Z
  (`dipole`), projected on I, II, V1..V6 with the Dower matrix; III, aVR, aVL, aVF derived (Einthoven exact);
  respiratory sinus arrhythmia and beat-to-beat RR noise, premature atrial beats, AF strips (irregular RR,
  f-waves, no P); baseline wander, mains, EMG, electrode motion (`noise`); 15 % written at 250 Hz;
- markers (`population`): P duration, advanced interatrial block, PTFV1, PR, PACs; QRS duration, LBBB, low
  voltage, T inversion, heart rate; infarct scar by territory (early-QRS forces removed toward the scar: Q waves,
  ST-T change); QRS fragmentation (a 20-50 uV notch, the fine-detail marker);
- clinical covariates (`covariates`): the CHARGE-AF variables (race, height, weight, blood pressure, smoking,
  treatment, diabetes, heart failure, prior MI), drawn given the markers from their own stream;
- outcomes (`outcomes`): AF from a known proportional hazard (Gompertz in age; ECG markers plus the CHARGE-AF
  covariates with their published coefficients) with prevalent AF before the ECG,
  censoring by death, loss to follow-up and the 5-year end; LVEF within 6 months of the ECG; MI and territory;
- oracle per ECG: true AF-free survival on the 26 interval days (day 0: no prevalent AF; then every 73 days to 5
  years), P(LVEF <= 40 %), P(MI), P(territory | MI), and
  P(LVEF <= 40 %) / P(MI) for a reader blind to the fQRS notch; AF-free survival given the covariates only and
  given the ECG only (`oracles`); and the waveform oracle `oracle_waveform_*`: the truth given only what the ECG
  shows (markers and rhythm; age, sex and covariates integrated out over their posterior, `waveform_oracle`).
records carry the planted measurements (`hr_bpm`, `pr_ms`, `p_dur_ms`, `qrs_ms`, `qt_ms`) and markers (`marker_*`).
"""
from bench.data.simulator.config import HORIZON_DAYS, INTERVAL_DAYS, N_INTERVALS, SIM_VERSION, SimConfig
from bench.data.simulator.generate import simulate

__all__ = ["simulate", "SimConfig", "SIM_VERSION", "INTERVAL_DAYS", "N_INTERVALS", "HORIZON_DAYS"]
