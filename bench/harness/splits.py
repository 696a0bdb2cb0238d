"""Train / validation / test splits, by patient always.

A record-wise split exists only as `record_wise_split_LEAKY`, named loudly, so the suite can show how much putting
one patient's ECGs on both sides inflates results.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def patient_split(records: pd.DataFrame, *, val: float = 0.15, test: float = 0.2, seed: int = 0,
                  fold_column: str | None = None, val_folds=(9,), test_folds=(10,)) -> Split:
    """Row indices for train/val/test with every patient on one side only.

    With `fold_column` (e.g. PTB-XL's `strat_fold`) the given folds are used as published; otherwise two seeded
    GroupShuffleSplit passes over `patient_id` take `test`, then `val`, as fractions of patients.
    """
    groups = records["patient_id"].astype(str).to_numpy()
    idx = np.arange(len(records))
    if fold_column is not None:
        folds = records[fold_column].to_numpy()
        te = idx[np.isin(folds, test_folds)]
        va = idx[np.isin(folds, val_folds)]
        tr = idx[~np.isin(folds, tuple(test_folds) + tuple(val_folds))]
        split = Split(tr, va, te)
    else:
        gss = GroupShuffleSplit(n_splits=1, test_size=test, random_state=seed)
        rest, te = next(gss.split(idx, groups=groups))
        gss2 = GroupShuffleSplit(n_splits=1, test_size=val / (1.0 - test), random_state=seed + 1)
        tr_r, va_r = next(gss2.split(rest, groups=groups[rest]))
        split = Split(np.sort(rest[tr_r]), np.sort(rest[va_r]), np.sort(te))
    assert_patient_disjoint(records, split)
    return split


def record_wise_split_LEAKY(records: pd.DataFrame, *, val: float = 0.15, test: float = 0.2, seed: int = 0) -> Split:
    """Shuffle ECGs ignoring patients. Leaks patients across splits: only for measuring that leakage."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(records))
    n_te, n_va = int(round(test * len(idx))), int(round(val * len(idx)))
    return Split(np.sort(idx[n_te + n_va:]), np.sort(idx[n_te:n_te + n_va]), np.sort(idx[:n_te]))


def assert_patient_disjoint(records: pd.DataFrame, split: Split) -> None:
    p = records["patient_id"].astype(str).to_numpy()
    sets = {k: set(p[getattr(split, k)]) for k in ("train", "val", "test")}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        both = sets[a] & sets[b]
        if both:
            raise AssertionError(f"patients in both {a} and {b}: {sorted(both)[:5]}")
