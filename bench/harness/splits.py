"""Train / validation / test splits, by patient always: one patient-grouped split, or K patient-grouped folds
(each test fold is one cell; its validation patients are carved from the training folds); the single split may have its
training part cut to a nested subset of patients (`train_subset`, learning curves).

A `Split` holds row indices into the task's records; `Split.parts` turns it into the three `Part`s a cell trains and
tests on (records, rows in the cohort, targets), so nothing downstream juggles aligned index arrays.
A record-wise split exists only as `record_wise_split_LEAKY`, named loudly, so the suite can show how much putting
one patient's ECGs on both sides inflates results.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from bench.base.errors import GridError

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Part:
    """One side of a split: the task's `records` (index 0..n-1), their `rows` in the cohort (= rows of the cached
    representation) and the encoded `targets`, all aligned."""

    name: str
    records: pd.DataFrame
    rows: np.ndarray
    targets: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_patients(self) -> int:
        return int(self.records["patient_id"].nunique())


@dataclass(frozen=True)
class Split:
    """Row indices into the task's records per part."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in PARTS}

    def parts(self, records: pd.DataFrame, cohort_rows: np.ndarray,
              targets: dict[str, np.ndarray]) -> dict[str, Part]:
        """{train, val, test: Part}; `records`, `cohort_rows` and `targets` are aligned over the task's rows."""
        out = {}
        for k in PARTS:
            i = getattr(self, k)
            out[k] = Part(k, records.iloc[i].reset_index(drop=True), np.asarray(cohort_rows)[i],
                          {t: np.asarray(v)[i] for t, v in targets.items()})
        return out


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
        split = Split(*_carve_val(rest, groups, val / (1.0 - test), seed + 1), np.sort(te))
    assert_patient_disjoint(records, split)
    return split


def fold_split(records: pd.DataFrame, fold: int, *, folds: int, val: float = 0.15, seed: int = 0,
               fold_column: str | None = None, stratify: np.ndarray | None = None) -> Split:
    """Test fold `fold` (1..`folds`) of a patient-grouped K-fold; validation patients (fraction `val` of the
    patients outside the test fold) are carved from the other folds, the rest train.

    With `fold_column` the published folds are used (fold k = rows whose column equals k); otherwise
    StratifiedGroupKFold over `patient_id` with the seed, stratified on `stratify` (e.g. the binary label) when
    given, so every fold holds both classes where the cohort allows.
    """
    if not 1 <= fold <= folds:
        raise GridError(f"[split] fold {fold} is outside 1..{folds}")
    groups = records["patient_id"].astype(str).to_numpy()
    idx = np.arange(len(records))
    if fold_column is not None:
        given = pd.to_numeric(records[fold_column], errors="coerce").to_numpy()
        stray = sorted(set(given[~np.isin(given, np.arange(1, folds + 1))].tolist()), key=str)
        if stray:  # a row in no test fold would train every fold's model and never be tested
            raise GridError(f"[split] fold_column {fold_column!r} with folds = {folds}: values {stray[:5]} are not "
                            f"folds 1..{folds}")
        te = idx[given == fold]
    else:
        y = np.zeros(len(records), int) if stratify is None else _strata(stratify)
        kfold = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        te = list(kfold.split(idx, y, groups))[fold - 1][1]
    rest = np.setdiff1d(idx, te)
    split = Split(*_carve_val(rest, groups, val, seed + fold), np.sort(te))
    assert_patient_disjoint(records, split)
    return split


def _carve_val(rest: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) rows of `rest`, val = a seeded `fraction` of its patients."""
    gss = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    tr, va = next(gss.split(rest, groups=groups[rest]))
    return np.sort(rest[tr]), np.sort(rest[va])


def _strata(labels: np.ndarray) -> np.ndarray:
    """Integer strata from a label array (one target per row; NaN is its own stratum)."""
    v = np.asarray(labels, dtype=float).reshape(len(labels), -1)[:, 0]
    return np.unique(np.where(np.isfinite(v), v, -1.0), return_inverse=True)[1]


def record_wise_split_LEAKY(records: pd.DataFrame, *, val: float = 0.15, test: float = 0.2, seed: int = 0) -> Split:
    """Shuffle ECGs ignoring patients. Leaks patients across splits: only for measuring that leakage."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(records))
    n_te, n_va = int(round(test * len(idx))), int(round(val * len(idx)))
    return Split(np.sort(idx[n_te + n_va:]), np.sort(idx[n_te:n_te + n_va]), np.sort(idx[:n_te]))


def train_subset(records: pd.DataFrame, split: Split, n_patients: int, *, seed: int = 0) -> Split:
    """`split` with its training part cut to `n_patients` patients (a learning-curve cell): one seeded permutation of
    the training patients, of which the first `n_patients` train, so a smaller size's patients are a subset of a
    larger one's; validation and test stay as they are. A size above the training patients there are is an error
    naming both."""
    patients = np.unique(records["patient_id"].astype(str).to_numpy()[split.train])
    if n_patients > len(patients):
        raise GridError(f"[split] train_sizes: {n_patients} training patients asked for, the training part has "
                        f"{len(patients)}")
    kept = np.random.default_rng(seed).permutation(patients)[:n_patients]
    rows = split.train[np.isin(records["patient_id"].astype(str).to_numpy()[split.train], kept)]
    return Split(rows, split.val, split.test)


def assert_patient_disjoint(records: pd.DataFrame, split: Split) -> None:
    p = records["patient_id"].astype(str).to_numpy()
    sets = {k: set(p[getattr(split, k)]) for k in PARTS}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        both = sets[a] & sets[b]
        if both:
            raise AssertionError(f"patients in both {a} and {b}: {sorted(both)[:5]}")
