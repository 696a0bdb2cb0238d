"""The labels CSV of a `folder:` source: schema, validation, and conversion to the cohort's label columns.

Schema (one row per ECG file; column names case-sensitive):

| column | required | meaning |
|---|---|---|
| file | yes | path of the ECG file, relative to the folder (outside it only with `allow_outside=1`) |
| patient_id | yes | patient identifier (splits are by patient) |
| ecg_id | no | unique ECG identifier (default: the file name without its extension); a repeated one is refused |
| ecg_datetime | yes | acquisition date-time (ISO 8601, e.g. 2019-03-04T10:22:00) |
| af_event_datetime | no | date-time of the first AF diagnosis (before the ECG = prevalent AF); empty = none seen |
| censor_datetime | no* | end of AF follow-up (death, loss, last contact); *required with af_event_datetime |
| prevalent_af | no | 1 if AF was known before the ECG (overrides the dates) |
| lvef | no | LVEF in % (0-100) |
| lvef_datetime | no | date-time of that echo; required with lvef |
| mi | no | 1/0 |
| mi_territory | no | AMI, ASMI, ALMI, IMI, ILMI or LMI (when mi == 1) |
| age | no | years at the ECG |
| sex | no | 1/M/male or 0/F/female |
| statements | no | diagnostic statement text; 'atrial fibrillation', 'afib' or 'AF' sets af_in_statement |
| race | no | text, read lower-case (CHARGE-AF uses white vs not: `white`) |
| height_cm, weight_kg | no | cm (50-250), kg (10-400) |
| sbp, dbp | no | systolic / diastolic blood pressure, mmHg (50-300 / 20-200; dbp below sbp) |
| smoker, bp_meds, diabetes, heart_failure, prior_mi | no | 1/0: current smoker, antihypertensive treatment, diabetes, heart failure, prior MI |

The clinical covariates (age, sex, race and the six rows above) are the CHARGE-AF variables (Alonso et al.,
JAHA 2013), used by the clinical-risk baseline (bench.harness.clinical).

Other columns pass through unchanged. AF time is measured from the ECG to the AF diagnosis or to censoring,
in days; an AF diagnosis at or before the ECG makes the row prevalent (time 0, event 1, survival interval 0).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bench.base.cohort import MI_TERRITORIES
from bench.base.errors import CohortError

REQUIRED = ("file", "patient_id", "ecg_datetime")
_SEX = {"1": 1, "m": 1, "male": 1, "0": 0, "f": 0, "female": 0, "1.0": 1, "0.0": 0}
#: Clinical covariates: numeric ranges, and 0/1 flags.
COVARIATE_RANGES = {"height_cm": (50, 250), "weight_kg": (10, 400), "sbp": (50, 300), "dbp": (20, 200)}
COVARIATE_FLAGS = ("smoker", "bp_meds", "diabetes", "heart_failure", "prior_mi")
_AF_TEXT = re.compile(r"atrial fibrillation|afib|\baf\b", re.IGNORECASE)


def _bad(where: str, col: str, rows: np.ndarray, why: str) -> CohortError:
    shown = ", ".join(str(int(r) + 2) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
    return CohortError(f"{where}: column {col!r} {why} (CSV lines {shown})")


def _dates(df: pd.DataFrame, col: str, where: str) -> pd.Series:
    raw = df[col]
    present = raw.notna() & (raw.astype(str).str.strip() != "")
    out = pd.to_datetime(raw.where(present), errors="coerce", format="mixed")
    bad = present & out.isna()
    if bad.any():
        raise _bad(where, col, np.flatnonzero(bad.to_numpy()), "is not a date-time")
    return out


def _numbers(df: pd.DataFrame, col: str, where: str, lo: float, hi: float) -> pd.Series:
    raw = df[col]
    present = raw.notna() & (raw.astype(str).str.strip() != "")
    out = pd.to_numeric(raw.where(present), errors="coerce")
    bad = present & (out.isna() | (out < lo) | (out > hi))
    if bad.any():
        raise _bad(where, col, np.flatnonzero(bad.to_numpy()), f"must be a number in [{lo:g}, {hi:g}]")
    return out


def _flags(df: pd.DataFrame, col: str, where: str) -> pd.Series:
    v = _numbers(df, col, where, 0, 1)
    bad = v.notna() & ~v.isin([0, 1])
    if bad.any():
        raise _bad(where, col, np.flatnonzero(bad.to_numpy()), "must be 0 or 1")
    return v


def labels_to_records(df: pd.DataFrame, where: str = "labels.csv") -> pd.DataFrame:
    """Validate a labels table and return it with the cohort label columns added (see bench.base.cohort)."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise CohortError(f"{where}: missing required column(s) {', '.join(missing)} "
                          f"(has: {', '.join(map(str, df.columns))})")
    df = df.reset_index(drop=True).copy()
    for c in ("file", "patient_id"):
        empty = df[c].isna() | (df[c].astype(str).str.strip() == "")
        if empty.any():
            raise _bad(where, c, np.flatnonzero(empty.to_numpy()), "is empty")
        df[c] = df[c].astype(str).str.strip()
    dup = df["file"].duplicated(keep=False)
    if dup.any():
        raise _bad(where, "file", np.flatnonzero(dup.to_numpy()), "repeats a file")
    ecg_t = _dates(df, "ecg_datetime", where)
    if ecg_t.isna().any():
        raise _bad(where, "ecg_datetime", np.flatnonzero(ecg_t.isna().to_numpy()), "is empty")
    day = pd.Timedelta(days=1)

    if "af_event_datetime" in df.columns or "censor_datetime" in df.columns or "prevalent_af" in df.columns:
        if "censor_datetime" not in df.columns:
            raise CohortError(f"{where}: AF columns need 'censor_datetime' (end of follow-up)")
        cen = _dates(df, "censor_datetime", where)
        af = _dates(df, "af_event_datetime", where) if "af_event_datetime" in df.columns else pd.Series(pd.NaT, df.index)
        prev = _flags(df, "prevalent_af", where) if "prevalent_af" in df.columns else pd.Series(np.nan, df.index)
        is_prev = (prev == 1) | (af.notna() & (af <= ecg_t))
        usable = is_prev | cen.notna()
        bad = cen.notna() & (cen < ecg_t) & ~is_prev
        if bad.any():
            raise _bad(where, "censor_datetime", np.flatnonzero(bad.to_numpy()), "is before ecg_datetime")
        event = is_prev | (af.notna() & (af <= cen))
        t_end = af.where(event & ~is_prev, cen)
        df["af_time_days"] = np.where(is_prev, 0.0, (t_end - ecg_t) / day)
        df["af_event"] = event.astype(float)
        df["prevalent_af"] = is_prev.astype(float)
        df.loc[~usable, ["af_time_days", "af_event", "prevalent_af"]] = np.nan
    if "statements" in df.columns:
        txt = df["statements"].fillna("").astype(str)
        df["af_in_statement"] = txt.str.contains(_AF_TEXT).astype(float)
    if "lvef" in df.columns:
        if "lvef_datetime" not in df.columns:
            raise CohortError(f"{where}: column 'lvef' needs 'lvef_datetime'")
        df["lvef"] = _numbers(df, "lvef", where, 0, 100)
        lt = _dates(df, "lvef_datetime", where)
        bad = df["lvef"].notna() & lt.isna()
        if bad.any():
            raise _bad(where, "lvef_datetime", np.flatnonzero(bad.to_numpy()), "is empty where lvef is given")
        df["lvef_days"] = (lt - ecg_t) / day
    if "mi" in df.columns:
        df["mi"] = _flags(df, "mi", where)
        terr = df["mi_territory"].fillna("").astype(str).str.strip().str.upper() if "mi_territory" in df.columns \
            else pd.Series("", df.index)
        bad = (terr != "") & ~terr.isin(MI_TERRITORIES)
        if bad.any():
            raise _bad(where, "mi_territory", np.flatnonzero(bad.to_numpy()),
                       f"must be one of {', '.join(MI_TERRITORIES)} or empty")
        df["mi_territory"] = np.where(df["mi"] == 1, terr, "")
    if "age" in df.columns:
        df["age"] = _numbers(df, "age", where, 0, 130)
    if "sex" in df.columns:
        raw = df["sex"].fillna("").astype(str).str.strip().str.lower()
        sex = raw.map(_SEX)
        bad = (raw != "") & sex.isna()
        if bad.any():
            raise _bad(where, "sex", np.flatnonzero(bad.to_numpy()), "must be 1/M/male or 0/F/female")
        df["sex"] = sex.astype(float)
    _covariates(df, where)
    df["ecg_datetime"] = ecg_t.dt.strftime("%Y-%m-%dT%H:%M:%S")
    text_cols = {"file", "patient_id", "ecg_id", "statements", "mi_territory", "ecg_datetime", "race"}
    for c in df.columns:  # pass-through columns read as text become numbers when every value is one
        if c not in text_cols and not c.endswith("_datetime") and df[c].dtype == object:
            present = df[c].notna() & (df[c].astype(str).str.strip() != "")
            conv = pd.to_numeric(df[c].where(present), errors="coerce")
            if conv.notna().sum() == present.sum():
                df[c] = conv
    derived = "ecg_id" not in df.columns
    if derived:
        df["ecg_id"] = df["file"].str.replace(r"\.[A-Za-z0-9]+$", "", regex=True)
    df["ecg_id"] = df["ecg_id"].astype(str).str.strip()
    dup = df["ecg_id"].duplicated(keep=False)
    if dup.any():  # predictions, splits and the oracle are joined on ecg_id: a repeat would mix two ECGs
        raise _bad(where, "ecg_id", np.flatnonzero(dup.to_numpy()),
                   "repeats an ecg_id" + (" (derived from the file name without extension; add an ecg_id column)"
                                          if derived else ""))
    return df


def _covariates(df: pd.DataFrame, where: str) -> None:
    """Validate the optional clinical covariate columns in place (numbers in range, 0/1 flags, race as text)."""
    for col, (lo, hi) in COVARIATE_RANGES.items():
        if col in df.columns:
            df[col] = _numbers(df, col, where, lo, hi)
    if "sbp" in df.columns and "dbp" in df.columns:
        bad = df["dbp"] >= df["sbp"]
        if bad.any():
            raise _bad(where, "dbp", np.flatnonzero(bad.to_numpy()), "is not below sbp")
    for col in COVARIATE_FLAGS:
        if col in df.columns:
            df[col] = _flags(df, col, where)
    if "race" in df.columns:
        race = df["race"].fillna("").astype(str).str.strip().str.lower()
        df["race"] = race.where(race != "", None)
