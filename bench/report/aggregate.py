"""Seed aggregation: one row per (task, representation, model) with, for every metric, the mean over seeds, the mean
of the runs' own 95 % bootstrap bounds (`_lo`, `_hi`: test-set uncertainty), and the 95 % t-interval half-width of
the seed mean (`_seed_ci`: training uncertainty, NaN with one seed).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bench.report.runs import AXES, RunSet


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


def best_by(agg: pd.DataFrame, task: str, metric: str, higher_is_better: bool, **where) -> pd.Series | None:
    """The row of `task` with the best mean `metric` among rows matching `where` (column == value); ties go to the
    first in (representation, model) order, so the choice is deterministic."""
    sel = agg[agg["task"] == task]
    for k, v in where.items():
        sel = sel[sel[k] == v]
    sel = sel[np.isfinite(sel[metric].to_numpy(dtype=float))]
    if sel.empty:
        return None
    order = sel[metric].to_numpy(dtype=float)
    i = int(np.argmax(order) if higher_is_better else np.argmin(order))
    return sel.iloc[i]
