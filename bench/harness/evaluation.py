"""Evaluation of one cell on one scored cohort (its test split, or an external cohort): point metrics, paired
patient-bootstrap 95 % intervals, the oracle's metrics and the model's distance to the oracle risk, plus tables to
store as run artifacts.

Every task describes its evaluation as metric calls (`Task.metric_calls`, tasks/base.py), so every metric is
bootstrapped the same way: by re-weighting rows (a patient drawn k times weighs k) through `evaluate_calls`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from bench.base.bootstrap import CI_LEVEL, bootstrap_indices, percentile_ci, resample_weights
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
    """A function weights -> metrics (None = all rows once), and a description of each metric."""
    calls = list(task.metric_calls(records, scores)) + extra
    return (lambda w: evaluate_calls(calls, w)), {c.key: _describe(c) for c in calls}


def oracle_part(oracle: pd.DataFrame, part: str) -> pd.DataFrame:
    """The `oracle_<part>_*` columns of a simulated cohort's oracle table renamed to the full oracle's `oracle_*`
    (e.g. `waveform`: the waveform oracle), so the task's `oracle_scores` reads them; empty if there are none."""
    cols = {c: "oracle_" + c[len(f"oracle_{part}_"):] for c in oracle.columns if c.startswith(f"oracle_{part}_")}
    return oracle[list(cols)].rename(columns=cols)


def evaluate_with_ci(task, records: pd.DataFrame, scores_df, *, n_boot: int = 200, seed: int = 0,
                     oracle_scores=None, level: float = CI_LEVEL, prefix: str = "test",
                     oracle_prefix: str = "oracle", other_oracles: dict | None = None,
                     ) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Metrics `<prefix>/<m>`, `<prefix>/<m>_lo`, `<prefix>/<m>_hi` (prefix `test`, or `external/<name>` for an
    external cohort; and `<oracle_prefix>/...` when oracle scores are given, plus `<prefix>/ece_vs_oracle` = mean
    |model risk - oracle risk|; each of `other_oracles` {prefix: scores} likewise under its own prefix, e.g.
    `oracle_waveform`), and artifacts: `bootstrap_resamples` (patient ids
    drawn per resample), `bootstrap_metrics` (every metric per resample, for paired model comparisons),
    `metric_info` (direction, function and parameters of each metric, with the interval's level, resample
    count and seed) and the task's own tables (e.g. `confusion_matrix`).

    `records` are the scored rows of the task (with `patient_id` and labels), row-aligned with `scores_df`.
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
        cols = [c for c in task.risk_columns if c in scores and c in oracle]
        if cols:
            extra.append(MetricCall("ece_vs_oracle", "mean_abs_diff",
                                    (scores[cols].to_numpy(float), oracle[cols].to_numpy(float))))
    groups[prefix] = _evaluator(task, records, scores, extra)
    if oracle is not None:
        groups[oracle_prefix] = _evaluator(task, records, oracle, [])
    for name, other in (other_oracles or {}).items():
        groups[name] = _evaluator(task, records, pd.DataFrame(other).reset_index(drop=True), [])

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
    artifacts.update(task.tables(records, scores))
    return metrics, artifacts
