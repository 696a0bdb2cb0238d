"""Test evaluation of one cell: point metrics, paired patient-bootstrap 95 % intervals, the oracle's metrics and
the model's distance to the oracle risk, plus tables to store as run artifacts.

Tasks that describe their evaluation as metric calls (`task.metric_calls`, see tasks/_metric_plan.py) are
bootstrapped by re-weighting rows (a patient drawn k times weighs k); any other task is bootstrapped by calling
`task.evaluate` on the resampled rows.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from bench.base.bootstrap import CI_LEVEL, bootstrap_indices, percentile_ci, resample_rows, resample_weights
from bench.base.metrics import MetricCall, evaluate_calls

#: None -> point metrics {key: value}; a (n_boot, n_rows) weight matrix -> {key: (n_boot,) values}.
Evaluator = Callable[[np.ndarray | None], dict]


def _describe(call: MetricCall) -> dict:
    """Direction, registered metric and parameters of a metric call, for the metric_info artifact."""
    def short(v):
        if isinstance(v, np.ndarray):
            return f"[{v.min():g}..{v.max():g}] ({v.size} values)" if v.size else "[]"
        return v
    params = ", ".join(f"{k}={short(v)}" for k, v in call.params.items())
    return {"higher_is_better": call.higher_is_better, "function": call.metric, "params": params,
            "rows": "all" if call.mask is None else "masked"}


def _evaluator(task, records: pd.DataFrame, scores: pd.DataFrame,
               extra: list[MetricCall]) -> tuple[Evaluator, dict[str, dict]]:
    """A function weights -> metrics (None = all rows once), and a description of each metric when known."""
    if hasattr(task, "metric_calls"):
        calls = list(task.metric_calls(records, scores)) + extra
        return (lambda w: evaluate_calls(calls, w)), {c.key: _describe(c) for c in calls}

    def generic(w: np.ndarray | None) -> dict:
        if w is not None and np.ndim(w) == 2:
            per = [generic(row) for row in w]  # one resample at a time
            keys = dict.fromkeys(k for p in per for k in p)
            return {k: np.array([p.get(k, np.nan) for p in per], dtype=float) for k in keys}
        out: dict[str, float] = {}
        if w is None:
            out.update(task.evaluate(records, scores))
        else:
            rows = resample_rows(w)
            out.update(task.evaluate(records.iloc[rows].reset_index(drop=True),
                                     scores.iloc[rows].reset_index(drop=True)))
        out.update(evaluate_calls(extra, w))
        return {k: float(v) for k, v in out.items()}

    return generic, {c.key: _describe(c) for c in extra}


def evaluate_with_ci(task, records: pd.DataFrame, scores_df, *, n_boot: int = 200, seed: int = 0,
                     oracle_scores=None, level: float = CI_LEVEL) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Metrics `test/<m>`, `test/<m>_lo`, `test/<m>_hi` (and `oracle/...` when oracle scores are given, plus
    `test/ece_vs_oracle` = mean |model risk - oracle risk|), and artifacts: `bootstrap_resamples` (patient ids
    drawn per resample), `bootstrap_metrics` (every metric per resample, for paired model comparisons),
    `metric_info` (direction, function and parameters of each metric, with the interval's level, resample
    count and seed) and the task's own tables (e.g. `confusion_matrix`).

    `records` are the test rows of the task (with `patient_id` and labels), row-aligned with `scores_df`.
    """
    records = records.reset_index(drop=True)
    scores = pd.DataFrame(scores_df).reset_index(drop=True)
    if len(records) != len(scores):
        raise ValueError(f"task {task.name!r}: {len(records)} test records but {len(scores)} score rows")
    oracle = None if oracle_scores is None else pd.DataFrame(oracle_scores).reset_index(drop=True)

    pids = records["patient_id"].astype(str).to_numpy()
    draws = bootstrap_indices(pids, n_boot, seed)
    weights = resample_weights(pids, draws)

    groups: dict[str, tuple[Evaluator, dict[str, dict]]] = {}
    extra: list[MetricCall] = []
    if oracle is not None:
        cols = [c for c in getattr(task, "risk_columns", ("score",)) if c in scores and c in oracle]
        if cols:
            extra.append(MetricCall("ece_vs_oracle", "mean_abs_diff",
                                    (scores[cols].to_numpy(float), oracle[cols].to_numpy(float))))
    groups["test"] = _evaluator(task, records, scores, extra)
    if oracle is not None:
        groups["oracle"] = _evaluator(task, records, oracle, [])

    metrics: dict[str, float] = {}
    per_resample: dict[str, np.ndarray] = {}
    info_rows = []
    for prefix, (run, described) in groups.items():
        point = run(None)
        boot = run(weights)  # every resample at once: key -> (n_boot,) values
        for key, value in point.items():
            values = np.asarray(boot.get(key, np.full(len(weights), np.nan)), dtype=float)
            lo, hi = percentile_ci(values, level)
            metrics[f"{prefix}/{key}"] = float(value)
            metrics[f"{prefix}/{key}_lo"] = lo
            metrics[f"{prefix}/{key}_hi"] = hi
            per_resample[f"{prefix}/{key}"] = values
            info_rows.append({"metric": f"{prefix}/{key}", **described.get(key, {"higher_is_better": None})})

    uniq = np.unique(pids)
    artifacts: dict[str, pd.DataFrame] = {
        "bootstrap_resamples": pd.DataFrame(uniq[draws], columns=[f"draw_{i}" for i in range(draws.shape[1])])
        .rename_axis("resample").reset_index(),
        "bootstrap_metrics": pd.DataFrame(per_resample).rename_axis("resample").reset_index(),
        "metric_info": pd.DataFrame(info_rows).assign(
            ci_level=level, n_boot=int(n_boot), seed=int(seed), n_patients=len(uniq), n_rows=len(records)),
    }
    if hasattr(task, "tables"):
        artifacts.update(task.tables(records, scores))
    return metrics, artifacts
