"""ECG vs clinical risk for one cell: a clinical-only baseline, the ECG + clinical combination, paired
differences against the ECG model, subgroup metrics and the ECG score as an independent predictor.

One call from the runner's test stage (`clinical_evaluation`): the clinical model is fitted on the training rows,
the combination on the validation rows, stacking the ECG model's validation scores with the clinical model's linear
predictor (2 inputs; see `models`), both score the test rows in the
task's score format, and `evaluate_with_ci` scores them with the same `n_boot` and `seed` as the ECG model, so
every difference is paired (same patient resamples). Keys: `clinical/<m>`, `combined/<m>` (+ `_lo`/`_hi`),
`diff/<a>_vs_<b>/<m>` (+ `_lo`/`_hi`), `subgroup/<column>:<value>/<m>`, `independent/...`, and on simulated
cohorts `oracle_clinical/<m>`, `oracle_ecg/<m>` (the simulator's clinical-only and ECG-only truth).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError

from bench.base.bootstrap import CI_LEVEL, percentile_ci
from bench.harness.clinical.design import (BINARY, COVARIATES, SURVIVAL, available_covariates, binary_outcome,
                                           class_outcome, covariate_frame, has_outcome_model, outcome_kind,
                                           survival_outcome)
from bench.harness.clinical.independent import independent_predictor
from bench.harness.clinical.models import ClinicalRisk, CombinedRisk
from bench.harness.clinical.subgroups import AGE_BANDS, subgroup_metrics
from bench.harness.evaluation import evaluate_with_ci

#: Paired comparisons reported as `diff/<a>_vs_<b>/<metric>` (a minus b).
COMPARISONS = (("combined", "ecg"), ("clinical", "ecg"), ("combined", "clinical"))


def renamed(metrics: dict[str, float], old: str, new: str) -> dict[str, float]:
    return {new + k[len(old):]: v for k, v in metrics.items() if k.startswith(old)}


def paired_differences(point: dict[str, dict[str, float]], boot: dict[str, pd.DataFrame],
                       level: float = CI_LEVEL) -> dict[str, float]:
    """`diff/<a>_vs_<b>/<m>` = point a - point b, interval from the per-resample differences (same resamples).

    `point[name]` maps `test/<m>` to the point value, `boot[name]` is that evaluation's `bootstrap_metrics`."""
    out: dict[str, float] = {}
    for a, b in COMPARISONS:
        if a not in point or b not in point:
            continue
        for key in sorted(set(point[a]) & set(point[b]) & set(boot[a].columns) & set(boot[b].columns)):
            if key.endswith(("_lo", "_hi")):
                continue
            m = key.removeprefix("test/")
            lo, hi = percentile_ci(boot[a][key].to_numpy(float) - boot[b][key].to_numpy(float), level)
            out[f"diff/{a}_vs_{b}/{m}"] = float(point[a][key] - point[b][key])
            out[f"diff/{a}_vs_{b}/{m}_lo"], out[f"diff/{a}_vs_{b}/{m}_hi"] = lo, hi
    return out


def _partial_oracles(task, oracle: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The simulator's clinical-only and ECG-only truth as score frames (renamed to the full oracle's columns)."""
    out = {}
    if oracle is None:
        return out
    for part in ("clinical", "ecg"):
        cols = {c: c.replace(f"oracle_{part}_", "oracle_") for c in oracle.columns if c.startswith(f"oracle_{part}_")}
        scores = task.oracle_scores(oracle[list(cols)].rename(columns=cols)) if cols else None
        if scores is not None:
            out[f"oracle_{part}"] = pd.DataFrame(scores)
    return out


def clinical_evaluation(task, train: pd.DataFrame, val: pd.DataFrame, val_scores: pd.DataFrame,
                        test: pd.DataFrame, test_scores: pd.DataFrame, *, n_boot: int = 200, seed: int = 0,
                        clinical: bool = True, subgroups=(), age_bands=AGE_BANDS,
                        test_oracle: pd.DataFrame | None = None,
                        ecg_evaluation: tuple[dict[str, float], pd.DataFrame] | None = None,
                        ) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Metrics and artifacts (`clinical_predictions`, `clinical_coefficients`) of the clinical layer of one cell.

    `train`/`val`/`test` are the task's rows of each split (records), `val_scores`/`test_scores` the ECG model's
    score frames on val and test, row-aligned. The clinical part runs when `clinical` is true and the training
    rows carry covariates (else only subgroups); `subgroups` names columns (`age_band` from `age_bands` edges).
    `ecg_evaluation`: the ECG model's own (metrics, `bootstrap_metrics`) from `evaluate_with_ci` with the same
    `n_boot` and `seed`, to pair with instead of evaluating the ECG scores again."""
    metrics: dict[str, float] = {}
    artifacts: dict[str, pd.DataFrame] = {}
    test = test.reset_index(drop=True)
    test_scores = pd.DataFrame(test_scores).reset_index(drop=True)
    if subgroups:
        metrics.update(subgroup_metrics(task, test, test_scores, subgroups, age_bands=age_bands,
                                        n_boot=n_boot, seed=seed))
    covariates = [c for c in available_covariates(train) if c in covariate_frame(val).columns]
    if not clinical or not covariates:
        return metrics, artifacts
    problem = fit_problem(task, train, "training") or fit_problem(task, val, "validation")
    if problem:  # said in the run, not raised: the ECG model's own results stand
        artifacts["clinical_skipped"] = pd.DataFrame({"reason": [problem]})
        return metrics, artifacts
    try:  # a numerical failure of a clinical fit (a separable tiny split) must never fail the ECG model's cell
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clin = ClinicalRisk(task, covariates=covariates).fit(train)
            comb = CombinedRisk(task, clinical=clin).fit(val, val_scores)
    except (ConvergenceError, np.linalg.LinAlgError, ValueError) as e:
        artifacts["clinical_skipped"] = pd.DataFrame({"reason": [f"clinical fit failed: {type(e).__name__}: {e}"]})
        return metrics, artifacts
    if caught:  # lifelines' / scikit-learn's convergence notes: kept with the run, not printed per cell
        artifacts["clinical_fit_warnings"] = pd.DataFrame({"warning": sorted({str(w.message)[:500] for w in caught})})
    frames = {"ecg": test_scores, "clinical": clin.scores(test), "combined": comb.scores(test, test_scores),
              **_partial_oracles(task, test_oracle)}
    point, boot = {}, {}
    if ecg_evaluation is not None:
        point["ecg"], boot["ecg"] = ecg_evaluation
    for name, scores in frames.items():
        if name in point:
            continue
        m, art = evaluate_with_ci(task, test, scores, n_boot=n_boot, seed=seed)
        point[name], boot[name] = m, art["bootstrap_metrics"]
        if name != "ecg":
            metrics.update(renamed(m, "test/", f"{name}/"))
    metrics.update(paired_differences(point, boot))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its fit's convergence notes: a failed fit is said below
            metrics.update(independent_predictor(task, test, test_scores, covariates))
    except (ConvergenceError, np.linalg.LinAlgError, ValueError) as e:  # e.g. one outcome class in the test split
        artifacts["independent_skipped"] = pd.DataFrame({"reason": [f"{type(e).__name__}: {e}"]})
    metrics["clinical/n_covariates"] = float(len(covariates))
    ids = test[["ecg_id", "patient_id"]].astype(str).reset_index(drop=True)
    artifacts["clinical_predictions"] = pd.concat(
        [ids, frames["clinical"].add_prefix("clinical_"), frames["combined"].add_prefix("combined_")], axis=1)
    artifacts["clinical_coefficients"] = pd.concat(
        {"clinical": _as_frame(clin.coefficients()), "combined": _as_frame(comb.coefficients())}
    ).rename_axis(["model", "row"]).reset_index()
    return metrics, artifacts


def fit_problem(task, records: pd.DataFrame, split: str) -> str | None:
    """Why the task's outcome cannot be fitted on these rows (no outcome model for the task's kind, no event, one
    class only), or None."""
    if not has_outcome_model(task):
        return (f"task {task.name!r}: no clinical outcome model for a {type(task).__name__} task (AF survival, "
                f"binary and territory tasks have one); the ECG model's results stand")
    kind = outcome_kind(task)
    if kind is SURVIVAL:
        _, e, incident = survival_outcome(task, records)
        n = int((e & incident).sum())
        return None if n else f"task {task.name!r}: no incident AF event in the {split} split"
    y = binary_outcome(task, records) if kind is BINARY else class_outcome(records)
    n = len(set(y[y >= 0].tolist()))
    return None if n >= 2 else f"task {task.name!r}: {n} outcome class(es) in the {split} split, need 2"


def _as_frame(coef) -> pd.DataFrame:
    return coef.to_frame("coef").T if isinstance(coef, pd.Series) else coef


__all__ = ["clinical_evaluation", "ClinicalRisk", "CombinedRisk", "subgroup_metrics", "independent_predictor",
           "paired_differences", "available_covariates", "COVARIATES", "AGE_BANDS"]
