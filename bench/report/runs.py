"""Load a grid's MLflow runs into one frame: one row per cell (the newest FINISHED run of each cell key), plus the
cells that are expected but have no finished run, with the reason.

Expected cells come from the grid file when one is given; otherwise from the runs themselves: every task seen x
every (representation, model) pair seen in any run x every seed seen. A grid run only creates compatible pairs, so
that product is what the grid asked for, and a cell that never ran (or failed) shows up as missing.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from bench.base.errors import ReportError
from bench.report.aggregate import pool_folds
from bench.report.runset import AXES, RunSet, param_value  # noqa: F401 - RunSet and param_value re-exported

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

CELL = AXES + ["seed", "fold"]  # a run's identity; `fold` is the test fold of a K-fold grid (0: single split)


def search_runs(tracking_uri: str, experiment: str) -> pd.DataFrame:
    """All runs of the experiment, via `mlflow.search_runs` (empty frame if the experiment does not exist)."""
    import mlflow
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    # scoped: the process's own tracking URI (set or from $MLFLOW_TRACKING_URI) is left as it was, not pinned
    with _use_tracking_uri(tracking_uri):
        if mlflow.get_experiment_by_name(experiment) is None:
            return pd.DataFrame()
        return mlflow.search_runs(experiment_names=[experiment], max_results=100_000, output_format="pandas",
                                  order_by=["attributes.start_time DESC"])


def _registry_info(frame: pd.DataFrame) -> pd.DataFrame:
    """Add rep_kind (sequence/image/vector) and primary (the task's primary metric) from the registries."""
    from representations import REPRESENTATIONS
    from tasks import TASKS

    kinds = {n: REPRESENTATIONS.entry(n).info["kind"] for n in frame["rep_name"].unique() if n in REPRESENTATIONS}
    prim = {n: TASKS.entry(n).info["primary_metric"] for n in frame["task_name"].unique()}
    frame["rep_kind"] = frame["rep_name"].map(kinds).fillna("unknown")
    frame["primary"] = frame["task_name"].map(prim)
    return frame


def _param(df: pd.DataFrame, key: str) -> pd.Series:
    col = f"params.{key}"
    if col not in df.columns:
        return pd.Series([None] * len(df), index=df.index, dtype=object)
    return df[col].map(param_value, na_action="ignore")


def _numeric_param(df: pd.DataFrame, key: str) -> pd.Series:
    return pd.to_numeric(_param(df, key), errors="coerce")


def normalise(raw: pd.DataFrame) -> pd.DataFrame:
    """Named columns for the grid axes and the parameters the report uses."""
    if raw.empty:
        return pd.DataFrame(columns=["run_id", "status", "start_time", *CELL, "cell_key", "reason", "task_name",
                                     "rep_name", "model_name", "depth", "width"])
    df = raw.copy()
    df = df[df.get("tags.cell_key", pd.Series(index=df.index, dtype=object)).notna()]
    for axis in AXES:
        df[axis] = df[f"tags.{axis}"].astype(str)
    df["seed"] = pd.to_numeric(df["tags.seed"], errors="coerce").astype("Int64")
    fold = df["tags.fold"] if "tags.fold" in df.columns else pd.Series(0, index=df.index)
    df["fold"] = pd.to_numeric(fold, errors="coerce").fillna(0).astype(int)
    df["cell_key"] = df["tags.cell_key"]
    reason = df["tags.status_reason"] if "tags.status_reason" in df.columns else pd.Series("", index=df.index)
    df["reason"] = reason.fillna("").astype(str)
    df["task_name"] = _param(df, "task.name").fillna(df["task"])
    df["rep_name"] = _param(df, "representation.name").fillna(df["representation"])
    df["model_name"] = _param(df, "model.name").fillna(df["model"])
    df["depth"] = _numeric_param(df, "model.params.depth")
    df["width"] = _numeric_param(df, "representation.params.width")
    return df


def pick_cells(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(finished: newest FINISHED run per cell, attempts: newest run per cell of any status). A learning-curve or
    leak grid has several runs per cell: these tables take the patient-wise split on the most training patients
    (bench/report/learning_curve.py and leak.py read the others)."""
    leaky = df["tags.split_kind"].eq("record_LEAKY") if "tags.split_kind" in df.columns else False
    size = pd.to_numeric(df["tags.train_size"], errors="coerce") if "tags.train_size" in df.columns else np.nan
    df = df.assign(_leaky=leaky, _size=-pd.Series(size, index=df.index, dtype=float).fillna(np.inf))
    df = df.sort_values(["_leaky", "_size", "start_time", "run_id"], ascending=[True, True, False, True],
                        kind="mergesort").drop(columns=["_leaky", "_size"])
    finished = df[df["status"] == "FINISHED"].drop_duplicates(CELL)
    attempts = df.drop_duplicates(CELL)
    return finished, attempts


def expected_from_runs(attempts: pd.DataFrame) -> pd.DataFrame:
    tasks = attempts[["task", "task_name"]].drop_duplicates("task")
    pairs = attempts[["representation", "model", "rep_name", "model_name", "depth", "width"]].drop_duplicates(
        ["representation", "model"])
    seeds = pd.DataFrame({"seed": sorted(attempts["seed"].dropna().unique())})
    folds = pd.DataFrame({"fold": sorted(attempts["fold"].unique())})
    return tasks.merge(pairs, how="cross").merge(seeds, how="cross").merge(folds, how="cross")


def expected_from_grid(grid_name_or_path: str) -> pd.DataFrame:
    from bench.harness.grid import load_grid

    cells, _ = load_grid(grid_name_or_path).expand()
    return pd.DataFrame([{"task": c.task.id, "task_name": c.task.name, "representation": c.representation.id,
                          "model": c.model.id, "rep_name": c.representation.name, "model_name": c.model.name,
                          "depth": _number(c.model.params.get("depth")),
                          "width": _number(c.representation.params.get("width")), "seed": c.seed, "fold": c.fold}
                         for c in cells]).drop_duplicates(CELL)  # one per training size / split: see pick_cells


def _number(value) -> float:
    """A numeric grid parameter as float (NaN when absent or not a number), as `_numeric_param` reads runs."""
    return float(pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0])


def load_runs(tracking_uri: str, experiment: str, grid: str | None = None) -> RunSet:
    """The experiment's runs, one per cell, and the expected cells with their status."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[len("sqlite:///"):]).is_file():
        raise ReportError(f"no MLflow store at {tracking_uri}; run a grid first (python -m bench run --grid NAME) "
                          "or pass --results / --tracking-uri")
    df = normalise(search_runs(tracking_uri, experiment))
    if df.empty and not grid:
        raise ReportError(f"experiment {experiment!r} at {tracking_uri} has no grid runs (no run carries a "
                          "cell_key tag); run a grid first: python -m bench run --grid NAME")
    finished, attempts = pick_cells(df) if len(df) else (df, df)
    expected = expected_from_grid(grid) if grid else expected_from_runs(attempts)
    if expected.empty:
        raise ReportError(f"experiment {experiment!r} at {tracking_uri} has no grid runs (no run carries a "
                          "cell_key tag); run a grid first: python -m bench run --grid NAME")
    expected["seed"] = expected["seed"].astype("Int64")
    status = attempts.set_index(CELL)[["status", "reason"]]
    cells = expected.join(status, on=CELL)
    done = pd.MultiIndex.from_frame(finished[CELL]) if len(finished) else pd.MultiIndex.from_tuples([], names=CELL)
    is_done = pd.MultiIndex.from_frame(cells[CELL]).isin(done)
    cells.loc[is_done, "status"] = "FINISHED"
    cells["status"] = cells["status"].fillna("missing")
    cells["reason"] = np.where(cells["status"] == "missing", "no run", cells["reason"].fillna(""))
    cells = _registry_info(cells)
    runs = finished.merge(cells[CELL + ["rep_kind", "primary"]], on=CELL, how="inner")
    runs = runs.sort_values(CELL, kind="mergesort").reset_index(drop=True)
    cells = cells.sort_values(CELL, kind="mergesort").reset_index(drop=True)
    return pool_folds(RunSet(experiment, tracking_uri, runs, cells, grid_train_sizes(grid) if grid else None))


def grid_train_sizes(grid_name_or_path: str) -> dict[str, list[int]]:
    """Per task id, the sorted training sizes of the grid's learning-curve cells (tasks without any: absent)."""
    from bench.harness.grid import load_grid

    cells, _ = load_grid(grid_name_or_path).expand()
    sizes: dict[str, set[int]] = {}
    for c in cells:
        if c.train_size:
            sizes.setdefault(c.task.id, set()).add(int(c.train_size))
    return {t: sorted(v) for t, v in sizes.items()}
