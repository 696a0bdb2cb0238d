"""Test metrics within subgroups (sex, age band, any categorical covariate), with counts and calibration-in-the-large.

Per subgroup value: the task's own metrics with patient-bootstrap intervals (`evaluate_with_ci` on the subgroup's
rows: its resamples are drawn from the subgroup's patients), the counts (ECGs, patients, positives) and
calibration-in-the-large, observed minus mean predicted risk (Kaplan-Meier 5-year AF risk for survival, the
positive fraction for binary tasks; none for territories). MLflow refuses '=' in metric names, so the key is
`subgroup/<column>:<value>/<metric>`; characters MLflow refuses in a value become '_'.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from bench.base.errors import GridError
from bench.harness.clinical.design import BINARY, SURVIVAL, binary_outcome, outcome_kind, survival_outcome
from bench.harness.evaluation import evaluate_with_ci
from tasks._survival_encoding import HORIZON_DAYS

#: Default `[eval] age_bands` edges (years): <50, 50-65, 65-80, >=80.
AGE_BANDS = (50.0, 65.0, 80.0)
_UNSAFE = re.compile(r"[^\w.\- ]")


def age_band(age: np.ndarray, edges=AGE_BANDS) -> np.ndarray:
    """Band label per age: `lt50`, `50-65`, ..., `ge80` (lower edge inclusive); empty where age is missing."""
    edges = [float(e) for e in edges]
    if sorted(edges) != edges or len(set(edges)) != len(edges):
        raise GridError(f"[eval] age_bands: edges must increase strictly, got {edges}")
    name = [f"lt{edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(edges, edges[1:])] + [f"ge{edges[-1]:g}"]
    age = np.asarray(age, float)
    out = np.array(name, dtype=object)[np.searchsorted(edges, age, side="right")]
    return np.where(np.isfinite(age), out, "")


def subgroup_values(records: pd.DataFrame, column: str, age_bands=AGE_BANDS) -> np.ndarray:
    """The subgroup label of each row for `column` (`age_band` is derived from `age`); '' = unknown."""
    if column == "age_band":
        if "age" not in records.columns:
            raise GridError("[eval] subgroups: 'age_band' needs an 'age' column in the cohort")
        return age_band(pd.to_numeric(records["age"], errors="coerce").to_numpy(), age_bands)
    if column not in records.columns:
        raise GridError(f"[eval] subgroups: no column {column!r} in the cohort "
                        f"(has: {', '.join(map(str, records.columns))})")
    v = records[column]
    text = v.map(lambda x: "" if pd.isna(x) else (f"{x:g}" if isinstance(x, float) else str(x)))
    return text.to_numpy(dtype=object)


def calibration_in_the_large(task, records: pd.DataFrame, scores: pd.DataFrame) -> float:
    """Observed minus mean predicted risk (NaN where the task has no single risk)."""
    kind = outcome_kind(task)
    if kind is SURVIVAL:
        t, e, incident = survival_outcome(task, records)
        if not incident.any():
            return float("nan")
        km = KaplanMeierFitter().fit(t[incident], e[incident])
        observed = 1.0 - float(km.survival_function_at_times(HORIZON_DAYS).iloc[0])  # last value past follow-up
        return observed - float(scores["risk_5y"].to_numpy(float)[incident].mean())
    if kind is BINARY:
        return float(binary_outcome(task, records).mean() - scores["score"].to_numpy(float).mean())
    return float("nan")


def _positives(task, records: pd.DataFrame) -> int:
    kind = outcome_kind(task)
    if kind is SURVIVAL:
        t, e, incident = survival_outcome(task, records)
        return int((e & incident).sum())
    if kind is BINARY:
        return int(binary_outcome(task, records).sum())
    return len(records)


def subgroup_metrics(task, records: pd.DataFrame, scores: pd.DataFrame, columns, *, age_bands=AGE_BANDS,
                     n_boot: int = 200, seed: int = 0, prefix: str = "subgroup") -> dict[str, float]:
    """`<prefix>/<column>:<value>/<metric>` (+ `_lo`/`_hi`), `.../n_ecgs`, `.../n_patients`, `.../positives`,
    `.../calib_in_the_large` for every value of every column (rows with an unknown value are in no subgroup)."""
    records, scores = records.reset_index(drop=True), pd.DataFrame(scores).reset_index(drop=True)
    out: dict[str, float] = {}
    for column in columns:
        labels = subgroup_values(records, column, age_bands)
        for value in sorted(set(labels) - {""}):
            rows = np.flatnonzero(labels == value)
            sub, sub_scores = records.iloc[rows].reset_index(drop=True), scores.iloc[rows].reset_index(drop=True)
            key = f"{prefix}/{column}:{_UNSAFE.sub('_', value)}"
            metrics, _ = evaluate_with_ci(task, sub, sub_scores, n_boot=n_boot, seed=seed)
            out.update({f"{key}/{k.removeprefix('test/')}": v for k, v in metrics.items()})
            out[f"{key}/n_ecgs"] = float(len(rows))
            out[f"{key}/n_patients"] = float(sub["patient_id"].nunique())
            out[f"{key}/positives"] = float(_positives(task, sub))
            out[f"{key}/calib_in_the_large"] = calibration_in_the_large(task, sub, sub_scores)
    return out
