"""External validation: a cell's trained model scored on another cohort (`[[external]]` in the grid file).

The external cohort's signals are standardised by their own source, as every cohort's are, then transformed by the
representation object fitted on the cell's training part: nothing is refitted on external data. When the training
features came from the cache, a data-fitted representation (PCA) was not fitted in this process; it is fitted here
on the same training rows, the deterministic fit the cache entry was built with.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pandas as pd

#: ECGs transformed and predicted at a time, so a large external cohort never sits in memory as model inputs.
CHUNK = 256


def fitted_representation(rep, cohort, train_rows: np.ndarray):
    """`rep` fitted on `cohort.signals[train_rows]` (as the cache fits it) unless it already is."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not getattr(rep, "fits_data", False):
        return rep
    try:
        check_is_fitted(rep)
    except NotFittedError:
        rep.fit(cohort.signals[np.sort(np.asarray(train_rows, dtype=np.int64))])
    return rep


def external_outputs(cell, data, inputs, ext, model, device, timed=nullcontext) -> tuple[
        pd.DataFrame, dict[str, np.ndarray], pd.DataFrame | None]:
    """(the task's records of the external cohort, raw head outputs per record, its oracle rows or None).
    `timed()`: a context manager around each inference pass (the runner adds them to `compute/infer_s`)."""
    from bench.harness.train import predict_outputs

    task = data.task
    sel = np.flatnonzero(np.asarray(task.select(ext.records), dtype=bool))
    if len(sel) == 0:
        raise ValueError(f"external cohort {ext.source}: no records carry the labels of task {cell.task.name!r}")
    rep = fitted_representation(inputs.rep, data.cohort, data.parts["train"].rows)
    batch = int(cell.train.get("eval_batch_size") or 64)
    chunks: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(sel), CHUNK):
        x = np.asarray(rep.transform(ext.signals[sel[i:i + CHUNK]]))
        with timed():
            out = predict_outputs(model, x, np.arange(len(x)), device, batch)
        for k, v in out.items():
            chunks.setdefault(k, []).append(v)
    outputs = {k: np.concatenate(v) for k, v in chunks.items()}
    oracle = None if ext.oracle is None else ext.oracle.iloc[sel].reset_index(drop=True)
    return ext.records.iloc[sel].reset_index(drop=True), outputs, oracle
