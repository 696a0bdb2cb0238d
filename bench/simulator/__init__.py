"""Physiological 12-lead ECG simulator with planted markers and known (oracle) risk for the AF, LVEF and MI tasks.

`simulate(n_patients, seed)` returns an in-memory cohort; `write_cohort` (bench.simulator.files) writes WFDB and
MUSE-style XML files plus labels.csv and oracle.csv, readable as a `folder:` source.
"""
from bench.simulator.config import HORIZON_DAYS, INTERVAL_DAYS, N_INTERVALS, SIM_VERSION, SimConfig
from bench.simulator.generate import simulate

__all__ = ["simulate", "SimConfig", "SIM_VERSION", "INTERVAL_DAYS", "N_INTERVALS", "HORIZON_DAYS"]
