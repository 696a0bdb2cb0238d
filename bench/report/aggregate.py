"""Fold pooling and seed aggregation.

`pool_folds`: the K test-fold runs of one (task, representation, model, seed) become one row whose test metrics are
recomputed from the pooled out-of-fold predictions (every ECG scored once, by the model that did not train on it),
with the patient bootstrap over the pooled predictions, so the intervals cover every ECG.
`aggregate`: one row per (task, representation, model) with, for every metric, the mean over seeds, the mean of the
runs' own 95 % bootstrap bounds (`_lo`, `_hi`: test-set uncertainty), and the 95 % t-interval half-width of the
seed mean (`_seed_ci`: training uncertainty, NaN with one seed).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bench.base.errors import ReportError
from bench.report.runset import AXES, RunSet, param_value

SEED = AXES + ["seed"]
#: Counts that add up over test folds; every other per-fold metric (compute, validation, external cohorts) is
#: averaged over the folds.
SUMMED_OVER_FOLDS = ("metrics.data/n_test", "metrics.data/n_test_patients")


def task_of_run(row: pd.Series):
    """The task instance a run was evaluated with (registry name and JSON params from the run's params)."""
    from tasks import TASKS

    params = {str(c)[len("params.task.params."):]: param_value(v) for c, v in row.items()
              if str(c).startswith("params.task.params.") and isinstance(v, str)}
    return TASKS.get(row["task_name"])(**params)


def pool_folds(rs: RunSet) -> RunSet:
    """One run row and one expected cell per (task, representation, model, seed). Every row gets `run_ids`, the
    runs whose predictions it stands for (one, or the K folds). A seed with a fold not finished is missing, and its
    cell says how many folds finished."""
    runs = rs.runs.assign(run_ids=[(r,) for r in rs.runs["run_id"]])
    if not (rs.cells["fold"] > 0).any():
        return RunSet(rs.experiment, rs.tracking_uri, runs, rs.cells, rs.train_sizes)
    cells = []
    for _, g in rs.cells.groupby(SEED, sort=True, dropna=False):
        row = g.iloc[0].copy()
        done = int((g["status"] == "FINISHED").sum())
        if len(g) > 1 and done < len(g):
            row["status"] = "missing"
            bad = g.loc[g["status"] != "FINISHED", ["fold", "status", "reason"]]
            row["reason"] = f"{done}/{len(g)} folds finished; " + "; ".join(
                f"fold {f}: {s} {r}".strip() for f, s, r in bad.itertuples(index=False))
        row["fold"] = 0
        cells.append(row)
    n_folds = rs.cells.groupby(SEED)["fold"].size()
    pooled = []
    for key, g in runs.groupby(SEED, sort=True):
        if (g["fold"] == 0).all():
            pooled.append(g)
        elif len(g) == n_folds.get(key, 0):
            pooled.append(_pooled_row(rs.tracking_uri, g.sort_values("fold")).to_frame().T)
    runs = pd.concat(pooled, ignore_index=True) if pooled else runs.iloc[0:0]
    return RunSet(rs.experiment, rs.tracking_uri, runs.infer_objects(), pd.DataFrame(cells).reset_index(drop=True),
                  rs.train_sizes)


def _pooled_row(tracking_uri: str, folds: pd.DataFrame) -> pd.Series:
    """The fold runs of one seed as one row: test and oracle metrics from the pooled predictions (the runs' own
    bootstrap settings), counts summed, other metrics averaged over folds."""
    from bench.harness.evaluation import evaluate_with_ci
    from bench.report.artifacts import load_predictions
    from bench.report.paired import ORACLE, WAVEFORM_ORACLE, split_predictions

    first = folds.iloc[0]
    pred = pd.concat([load_predictions(tracking_uri, r) for r in folds["run_id"]], ignore_index=True)
    if pred["ecg_id"].duplicated().any():
        raise ReportError(f"{first['task']}/{first['representation']}/{first['model']} seed {first['seed']}: "
                          f"test folds share ECGs {sorted(pred.loc[pred['ecg_id'].duplicated(), 'ecg_id'])[:5]}; "
                          "folds must be disjoint")
    records, scores = split_predictions(pred)
    oracle, waveform = (split_predictions(pred, p)[1] for p in (ORACLE, WAVEFORM_ORACLE))
    metrics, _ = evaluate_with_ci(task_of_run(first), records, scores,
                                  oracle_scores=oracle if oracle.shape[1] else None, n_boot=int(float(first.get("params.eval.n_boot", 200))),
                                  seed=int(float(first.get("params.eval.boot_seed", 0))),
                                  other_oracles={"oracle_waveform": waveform} if waveform.shape[1] else None)
    row = first.copy()
    for c in (c for c in folds.columns if c.startswith("metrics.")):
        values = pd.to_numeric(folds[c], errors="coerce")
        row[c] = values.sum() if c in SUMMED_OVER_FOLDS else values.mean()
        if c.startswith(("metrics.test/", "metrics.oracle/", "metrics.oracle_waveform/")):
            row[c] = np.nan  # per-fold values; the pooled ones follow
    for k, v in metrics.items():
        row[f"metrics.{k}"] = v
    row["fold"] = 0
    row["run_ids"] = tuple(folds["run_id"])
    return row


def seed_ci_halfwidth(values: np.ndarray) -> float:
    """Half-width of the 95 % Student-t interval of the mean of `values` (NaN with fewer than two)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def aggregate(rs: RunSet, metrics: list[str]) -> pd.DataFrame:
    """Rows: every expected (task, representation, model); columns: n_seeds, n_expected, and per metric m:
    m, m_lo, m_hi, m_seed_ci (NaN where no finished run carries it)."""
    expected = rs.cells.groupby(AXES, sort=True).agg(
        n_expected=("seed", "size"), rep_kind=("rep_kind", "first"), rep_name=("rep_name", "first"),
        model_name=("model_name", "first"), primary=("primary", "first"), depth=("depth", "first"),
        width=("width", "first")).reset_index()
    rows = []
    runs = rs.runs
    for _, e in expected.iterrows():
        sel = runs[(runs["task"] == e["task"]) & (runs["representation"] == e["representation"])
                   & (runs["model"] == e["model"])]
        row = {**e.to_dict(), "n_seeds": len(sel)}  # depth, width: from the grid or the runs' params
        for k in ("depth", "width"):  # a run's logged value wins (it holds the model's resolved default)
            if len(sel) and np.isfinite(sel[k].iloc[0]):
                row[k] = sel[k].iloc[0]
        for m in metrics:
            vals = _col(sel, m)
            row[m] = float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
            row[f"{m}_seed_ci"] = seed_ci_halfwidth(vals)
            for b in ("lo", "hi"):
                bv = _col(sel, f"{m}_{b}")
                row[f"{m}_{b}"] = float(np.nanmean(bv)) if np.isfinite(bv).any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _col(frame: pd.DataFrame, metric: str) -> np.ndarray:
    col = f"metrics.{metric}"
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)


def validation_metric(primary: str) -> str:
    """The metric a model is chosen on: the best epoch's validation value of the task's primary metric, which every
    run logs (bench.harness.runner `fit`; a K-fold seed's is the mean over its folds)."""
    return f"val/best_{primary}"


def best_by(agg: pd.DataFrame, task: str, metric: str, higher_is_better: bool, **where) -> pd.Series | None:
    """The row of `task` with the best mean `metric` among rows matching `where` (column == value); ties go to the
    first in (representation, model) order, so the choice is deterministic. To choose a model for a comparison,
    pass `validation_metric(primary)`: choosing on the test metric would bias the chosen model's test value
    upwards (the winner's curse). Rows without a finite `metric` are not candidates."""
    if metric not in agg.columns:  # no run logged it (e.g. runs from before validation metrics were logged)
        return None
    sel = agg[agg["task"] == task]
    for k, v in where.items():
        sel = sel[sel[k] == v]
    sel = sel[np.isfinite(sel[metric].to_numpy(dtype=float))]
    if sel.empty:
        return None
    order = sel[metric].to_numpy(dtype=float)
    i = int(np.argmax(order) if higher_is_better else np.argmin(order))
    return sel.iloc[i]
