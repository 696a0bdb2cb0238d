"""Cohorts: a records table (one row per usable ECG) row-aligned with standardised signals.

A cohort source is named by a spec string, the same everywhere (grid files, CLI):
`synthetic:N[,seed=S]`, `ptbxl:PATH`, `ptb:PATH`, `folder:PATH[,labels=CSV]`. Each source is a function registered in
`SOURCES` (modules in `bench/data/sources/`) that takes the spec's argument and options and returns a `Cohort`.

Label columns (all optional; a task uses the rows where its columns are present):
  ecg_id (str), patient_id (str), file (str), fs (original rate), age (years), sex (1 male, 0 female),
  af_time_days (days from the ECG to AF or censoring), af_event (1 AF observed, 0 censored),
  prevalent_af (1 AF before the ECG: survival interval 0), af_in_statement (1/0),
  lvef (%), lvef_days (days from the ECG to the echo), mi (1/0),
  mi_territory (one of AMI, ASMI, ALMI, IMI, ILMI, LMI; empty when mi == 0), height_cm, weight_kg;
  PTB-XL also: superclass_NORM/MI/STTC/CD/HYP (1/0), af (AFIB or AFLT, 1/0), strat_fold, records_note.
Oracle columns (simulated cohorts only), row-aligned with records: oracle_surv_00 .. oracle_surv_25 (true
P(no AF by day 73 k after the ECG); k = 0: no AF on or before the ECG date), oracle_p_lvef, oracle_p_mi,
oracle_p_<territory>.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.base.errors import CohortError
from bench.base.registry import Registry

SOURCES: Registry = Registry("cohort source", package="bench.data.sources")
register_source = SOURCES.register

MI_TERRITORIES: tuple[str, ...] = ("AMI", "ASMI", "ALMI", "IMI", "ILMI", "LMI")
#: PTB-XL's diagnostic superclasses (Wagner et al. 2020), label columns superclass_<CLASS> (1/0).
SUPERCLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")

#: Survival grid of AF follow-up (ECG-AI's, with one more slot): interval 0 holds AF on or before the ECG date
#: (prevalent), interval k >= 1 holds AF on days (73 (k - 1), 73 k] after it, so survival column k is read at day
#: 73 k and the 5-year horizon is the last interval's day (tasks/_survival_encoding.py says why 26, not 25). The
#: simulator's oracle columns and the AF task's encoding both use it, so it is defined once, here.
INTERVAL_DAYS = 73
N_INTERVALS = 26
HORIZON_DAYS = INTERVAL_DAYS * (N_INTERVALS - 1)


@dataclass
class Cohort:
    source: str
    records: pd.DataFrame  # index 0..n-1, row i <-> signals[i]
    signals: np.ndarray  # (n, 12, 5000) float32 (may be a read-only np.memmap)
    fingerprint: str  # changes whenever any signal or label changes
    quarantine: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "reason"]))
    oracle: pd.DataFrame | None = None  # row-aligned with records
    n_in: int = -1  # files offered; n_in == len(records) + len(quarantine)

    def __post_init__(self) -> None:
        if len(self.records) != len(self.signals):
            raise CohortError(f"{self.source}: {len(self.records)} records but {len(self.signals)} signals")
        if self.n_in < 0:
            self.n_in = len(self.records) + len(self.quarantine)

    def __len__(self) -> int:
        return len(self.records)


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """'synthetic:200,seed=3' -> ('synthetic', '200', {'seed': '3'})."""
    name, _, rest = spec.partition(":")
    parts = [p for p in rest.split(",") if p] if rest else []
    arg = ""
    opts: dict[str, str] = {}
    for p in parts:
        if "=" in p:
            k, _, v = p.partition("=")
            opts[k.strip()] = v.strip()
        elif not arg:
            arg = p.strip()
        else:
            raise CohortError(f"cohort spec {spec!r}: more than one positional argument")
    return name.strip(), arg, opts


def load_cohort(spec: str, **kwargs) -> Cohort:
    """Build (or load from cache) the cohort a spec names."""
    name, arg, opts = parse_spec(spec)
    if not name:
        raise CohortError(f"empty cohort spec {spec!r}")
    return SOURCES.get(name)(arg, **opts, **kwargs)


def fingerprint_arrays(*parts) -> str:
    """Content hash of arrays / frames / strings, for cache keys and cell keys."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, pd.DataFrame):
            h.update(pd.util.hash_pandas_object(p, index=True).values.tobytes())
            h.update(",".join(map(str, p.columns)).encode())
        elif isinstance(p, np.ndarray):
            h.update(str(p.shape).encode() + str(p.dtype).encode())
            h.update(np.ascontiguousarray(p).data)
        else:
            h.update(str(p).encode())
    return h.hexdigest()[:16]
