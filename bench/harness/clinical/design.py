"""Inputs of the clinical models: the covariate matrix, the ECG score as a model input, and each task's outcome.

- covariates: the CHARGE-AF variables (Alonso et al., JAHA 2013) a cohort carries, race read as white vs not;
  missing values get the training median (fitted with the scaler on the training rows only);
- the ECG score enters on its linear-predictor scale: log 5-year cumulative hazard (AF survival), logit (binary
  tasks), log class probabilities (territories), so "per SD" and the combination are on the scale models fit (the
  clinical model's linear predictor, the combination's other input, is on the same scales);
- outcome kinds are looked up by task class (survival, binary, multiclass), not by name.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tasks._binary import BinaryTask
from tasks.af_survival import AFSurvival
from tasks.mi import MITerritory, territory_index

#: Covariates used when present (model column names; `white` comes from the labels' `race`).
COVARIATES = ("age", "sex", "white", "height_cm", "weight_kg", "sbp", "dbp", "smoker", "bp_meds", "diabetes",
              "heart_failure", "prior_mi")
_EPS = 1e-6


def covariate_frame(records: pd.DataFrame) -> pd.DataFrame:
    """Numeric covariates per row (NaN where missing); columns absent from the records are absent here."""
    out = {}
    for c in COVARIATES:
        if c == "white" and "race" in records.columns:
            race = records["race"]
            out[c] = np.where(race.isna(), np.nan, (race.astype(str).str.lower() == "white").astype(float))
        elif c in records.columns:
            out[c] = pd.to_numeric(records[c], errors="coerce").to_numpy(float)
    return pd.DataFrame(out, index=records.index)


def available_covariates(records: pd.DataFrame) -> list[str]:
    """Covariates with at least one value and more than one distinct value (a constant column fits nothing)."""
    x = covariate_frame(records)
    return [c for c in x.columns if x[c].nunique(dropna=True) > 1]


def scaler() -> object:
    """Median imputation then standardisation; fitted on the rows a model is fitted on."""
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler())


@dataclass(frozen=True)
class OutcomeKind:
    """How a task's outcome is modelled: `survival` (Cox), `binary` (logistic), `multiclass` (multinomial)."""
    name: str


SURVIVAL, BINARY, MULTICLASS = OutcomeKind("survival"), OutcomeKind("binary"), OutcomeKind("multiclass")
#: First matching task class wins.
_KINDS = ((AFSurvival, SURVIVAL), (BinaryTask, BINARY), (MITerritory, MULTICLASS))


def has_outcome_model(task) -> bool:
    """Whether the clinical layer has an outcome model for this kind of task (multi-label tasks have none yet)."""
    return any(isinstance(task, cls) for cls, _ in _KINDS)


def outcome_kind(task) -> OutcomeKind:
    for cls, kind in _KINDS:
        if isinstance(task, cls):
            return kind
    raise TypeError(f"task {task.name!r}: no clinical outcome model (known task types: "
                    f"{', '.join(c.__name__ for c, _ in _KINDS)})")


def survival_outcome(task, records: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(days, event, incident mask) with follow-up cut at the task's 5-year horizon (as its metrics are)."""
    from tasks._survival_encoding import HORIZON_DAYS

    t, e, prevalent = task._follow_up(records)
    return np.minimum(t, HORIZON_DAYS), e & (t <= HORIZON_DAYS), ~prevalent


def binary_outcome(task, records: pd.DataFrame) -> np.ndarray:
    return task.target(records).astype(int)


def class_outcome(records: pd.DataFrame) -> np.ndarray:
    return territory_index(records)


def ecg_features(kind: OutcomeKind, task, scores: pd.DataFrame) -> pd.DataFrame:
    """The ECG model's score(s) on the linear-predictor scale, one column per score (`ecg`, or `ecg_<class>`)."""
    if kind is SURVIVAL:
        col = "cumhaz_5y" if "cumhaz_5y" in scores else None
        h = scores[col].to_numpy(float) if col else -np.log1p(-np.clip(scores["risk_5y"].to_numpy(float), 0, 1 - _EPS))
        return pd.DataFrame({"ecg": np.log(np.maximum(h, _EPS))})
    if kind is BINARY:
        p = np.clip(scores["score"].to_numpy(float), _EPS, 1 - _EPS)
        return pd.DataFrame({"ecg": np.log(p / (1 - p))})
    return pd.DataFrame({f"ecg_{c[2:]}": log_probability(scores[c].to_numpy(float)) for c in task.risk_columns})


def log_probability(p: np.ndarray) -> np.ndarray:
    """log p, floored at log 1e-6: a class a model never predicts stays a finite input."""
    return np.log(np.clip(p, _EPS, 1.0))
