"""A cell's data: the cohort (loaded once per process and kept for the next cells), the task's rows of it, and
their split into train / val / test parts (the published or a seeded patient split, the cell's test fold, the
leaky record-wise split when asked for, and a learning-curve cell's nested training subset). Pure: no logging, so
the runner's `load_data` stage and the grid's preparation (bench/harness/prepare.py) split a cell identically."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench.harness.grid import Cell

if TYPE_CHECKING:
    from bench.harness.splits import Part, Split

_COHORTS: OrderedDict[tuple[str, str], object] = OrderedDict()
#: Cohorts kept in memory: a cell's training cohort and its external cohorts, so consecutive cells reuse them.
_MAX_COHORTS = 4


def cached_cohort(source: str, cache_dir: str):
    """The cohort of `source`, loaded once per process (sources cache decoded signals on disk too)."""
    from bench.base.cohort import load_cohort

    k = (source, cache_dir)
    if k not in _COHORTS:
        while len(_COHORTS) >= _MAX_COHORTS:
            _COHORTS.popitem(last=False)
        _COHORTS[k] = load_cohort(source, cache_dir=cache_dir)
    _COHORTS.move_to_end(k)
    return _COHORTS[k]


@dataclass(frozen=True)
class CellData:
    """What `load_data` gives the later stages: the cohort, the task, and the task's rows split into parts."""

    cohort: object
    task: object
    parts: dict[str, Part]
    n_task: int = 0  # the task's rows in the cohort (before any split)


def cell_data(cell: Cell, cohort) -> tuple[CellData, Split, str]:
    """The cell's task rows of `cohort` split into parts, without logging: (data, split, split tag). Shared by
    `load_data` and the grid's preparation (bench/harness/prepare.py), which builds each cell's representation
    entry on the same training rows before the cells run."""
    from tasks import TASKS

    task = TASKS.get(cell.task.name)(**cell.task.params)
    sub = np.flatnonzero(np.asarray(task.select(cohort.records), dtype=bool))
    if len(sub) == 0:
        raise ValueError(f"task {cell.task.name!r}: no records of {cell.source} carry its labels")
    records = cohort.records.iloc[sub].reset_index(drop=True)
    targets = task.encode(records)
    split, split_tag = _split(cell, records, targets)
    if cell.train_size:
        from bench.harness.splits import train_subset

        split = train_subset(records, split, cell.train_size, seed=int(cell.split["seed"]))
    return CellData(cohort, task, split.parts(records, sub, targets), len(records)), split, split_tag


def _split(cell: Cell, records: pd.DataFrame, targets: dict[str, np.ndarray]) -> tuple[Split, str]:
    from bench.harness.splits import fold_split, patient_split, record_wise_split_LEAKY

    val, test_frac, seed = float(cell.split["val"]), float(cell.split["test"]), int(cell.split["seed"])
    fold_col = cell.split.get("fold_column") or None
    if cell.split.get("record_wise_LEAKY"):
        return record_wise_split_LEAKY(records, val=val, test=test_frac, seed=seed), "record-wise-LEAKY"
    if cell.fold:
        if fold_col and fold_col not in records.columns:
            raise ValueError(f"[split] fold_column {fold_col!r}: the records of {cell.source} have no such column")
        # stratified on the first target's first column (the label of a binary task, the class of a multiclass one)
        return fold_split(records, cell.fold, folds=int(cell.split["folds"]), val=val, seed=seed,
                          fold_column=fold_col, stratify=next(iter(targets.values()))), "patient-kfold"
    if fold_col and fold_col not in records.columns:
        fold_col = None
    return patient_split(records, val=val, test=test_frac, seed=seed, fold_column=fold_col), "patient"
