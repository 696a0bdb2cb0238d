"""Checks every registered task passes, on a simulated cohort: heads, parameters, selection, encoding, a loss that
a small logistic model on the planted markers drives down, predictions, evaluation (also on tiny sets) and oracle
scores."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
import torch

from bench.base.cohort import MI_TERRITORIES
from bench.data.simulator import simulate
from tasks import TASKS

TASK_NAMES = TASKS.names()


@lru_cache(maxsize=1)
def cohort():
    records, _, oracle = simulate(220, 5)
    return records, oracle


def planted_features(records: pd.DataFrame) -> np.ndarray:
    """Standardised planted measurements and markers (what a model could read off the ECG), territory one-hot."""
    cols = ["age", "sex", "pr_ms", "p_dur_ms", "qrs_ms", "qt_ms", "hr_bpm", "af_rhythm"]
    cols += [c for c in records.columns if c.startswith("marker_") and c != "marker_territory"]
    x = records[cols].apply(pd.to_numeric, errors="coerce")
    x = x.fillna(x.mean()).to_numpy(float)
    terr = np.stack([(records["marker_territory"] == t).to_numpy(float) for t in MI_TERRITORIES], 1)
    x = np.column_stack([x, terr])
    return ((x - x.mean(0)) / (x.std(0) + 1e-9)).astype(np.float32)


def task_data(name):
    if "synthetic" not in TASKS.get(name).sources:
        pytest.skip(f"{name}: the simulated cohort carries no labels for it (tests/test_ptbxl.py uses real ones)")
    records, oracle = cohort()
    task = TASKS.get(name)()
    keep = np.asarray(task.select(records), bool)
    return task, records[keep].reset_index(drop=True), oracle[keep].reset_index(drop=True)


def fit_logistic(task, x: np.ndarray, targets: dict, steps: int = 80):
    """One linear layer per head on the planted features; returns (losses, raw outputs). One thread: tiny ops on
    a busy 2-core machine spend more time synchronising threads than computing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(task, x, targets, steps)
    finally:
        torch.set_num_threads(threads)


def _fit(task, x, targets, steps):
    torch.manual_seed(0)
    heads = torch.nn.ModuleDict({h: torch.nn.Linear(x.shape[1], u) for h, u in task.heads.items()})
    opt = torch.optim.Adam(heads.parameters(), lr=0.1)
    xt = torch.from_numpy(x)
    y = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in targets.items()}
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = task.loss({h: m(xt) for h, m in heads.items()}, y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        return losses, {h: m(xt).numpy() for h, m in heads.items()}


@pytest.mark.parametrize("name", TASK_NAMES)
def test_declared_heads_metric_and_params(name):
    cls = TASKS.get(name)
    assert cls.heads and all(isinstance(u, int) and u >= 1 for u in cls.heads.values())
    assert TASKS.entry(name).info["heads"] == dict(cls.heads)
    assert cls.primary_metric
    task = cls()
    assert type(cls(**task.get_params())) is cls
    with pytest.raises(TypeError, match="unknown parameter"):
        cls(no_such_parameter=1)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_encode_loss_predict_evaluate(name):
    task, rec, orc = task_data(name)
    n = len(rec)
    assert n >= 30, f"{name}: only {n} simulated rows carry its labels"
    targets = task.encode(rec)
    for k, v in targets.items():
        v = np.asarray(v, dtype=np.float32)
        assert v.shape[0] == n and np.isfinite(v).all(), k
    losses, outputs = fit_logistic(task, planted_features(rec), targets)
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], f"{name}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    scores = task.predict(outputs)
    assert all(np.asarray(v).shape == (n,) for v in scores.values())
    metrics = task.evaluate(rec, pd.DataFrame(scores))
    assert all(isinstance(v, float) for v in metrics.values())
    primary = metrics[task.primary_metric]
    assert primary > 0.7, f"{name}: {task.primary_metric} = {primary:.3f} on planted features (training rows)"


@pytest.mark.parametrize("name", TASK_NAMES)
def test_evaluate_on_tiny_sets_returns_nan_not_errors(name):
    task, rec, orc = task_data(name)
    scores = pd.DataFrame(task.oracle_scores(orc))
    full = task.evaluate(rec, scores)
    for k in (1, 2, 5):
        small = task.evaluate(rec.iloc[:k], scores.iloc[:k])
        assert set(small) == set(full) and all(isinstance(v, float) for v in small.values())
    assert np.isnan(task.evaluate(rec.iloc[:1], scores.iloc[:1])[task.primary_metric])


@pytest.mark.parametrize("name", TASK_NAMES)
def test_oracle_scores_have_the_prediction_columns(name):
    task, rec, orc = task_data(name)
    oracle = task.oracle_scores(orc)
    if oracle is None:
        pytest.skip(f"{name}: no oracle columns for this task in the simulated cohort")
    predicted = task.predict({h: np.zeros((len(rec), u), np.float32) for h, u in task.heads.items()})
    assert set(oracle) <= set(predicted)
    assert set(getattr(task, "risk_columns", ("score",))) <= set(oracle)
    assert task.evaluate(rec, pd.DataFrame(oracle))[task.primary_metric] > 0.7
    assert task.oracle_scores(orc.drop(columns=[c for c in orc.columns if c.startswith("oracle_")])) is None
