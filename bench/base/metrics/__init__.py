"""Metrics: pure functions on whole arrays, registered by name with `higher_is_better`.

Every metric takes its row-aligned arrays, an optional 1-D `sample_weight` and keyword parameters, and returns a
float (NaN when the metric is undefined on these rows, e.g. one class only: small validation sets must not raise).
Weights are what make the patient bootstrap cheap and exact: a resample that draws patient p k times is the
original rows with weight k on p's ECGs, so the bootstrap calls each metric with integer weights instead of
materialising resampled copies.

A task describes its evaluation as a list of `MetricCall`s (output key, metric name, arrays, parameters);
`evaluate_calls` runs them once (point estimate) or once per bootstrap resample (see bench/harness/evaluation.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from bench.base.registry import Registry

METRICS: Registry = Registry("metric", package="bench.base.metrics")


def register_metric(name: str, *, higher_is_better: bool | None):
    """Register a metric function; `higher_is_better=None` for metrics with an ideal value (calibration slope 1)."""
    return METRICS.register(name, higher_is_better=higher_is_better)


@dataclass(frozen=True)
class MetricCall:
    """One evaluation entry: `key` (reported name, e.g. 'auc_1y') = METRICS[metric](*arrays, **params).

    `arrays` are aligned with the evaluated rows; `mask` (optional, same length) limits the metric to some of them
    (e.g. incident-AF metrics skip rows with AF before the ECG) while keeping every call on the same rows, so one
    bootstrap weight vector serves all calls.
    """

    key: str
    metric: str
    arrays: tuple[np.ndarray, ...]
    params: dict[str, Any] = field(default_factory=dict)
    mask: np.ndarray | None = None

    def __call__(self, sample_weight: np.ndarray | None = None, rows: np.ndarray | None = None) -> float:
        """Evaluate on all rows, or on `rows` (indices) with `sample_weight` (same length as `rows`)."""
        fn: Callable[..., float] = METRICS.get(self.metric)
        n = len(self.arrays[0])
        rows = np.arange(n) if rows is None else np.asarray(rows)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if self.mask is not None:
            keep = np.asarray(self.mask, dtype=bool)[rows]
            rows = rows[keep]
            w = None if w is None else w[keep]
        if len(rows) == 0:  # e.g. a resample of a small subgroup that drew no incident-AF patient
            return float("nan")
        return float(fn(*(np.asarray(a)[rows] for a in self.arrays), sample_weight=w, **self.params))

    @property
    def higher_is_better(self) -> bool | None:
        return METRICS.entry(self.metric).info["higher_is_better"]


def evaluate_calls(calls: list[MetricCall], sample_weight: np.ndarray | None = None) -> dict[str, float]:
    """Run every call on the same rows; zero-weight rows are dropped first (so 'one class only' is judged on the
    rows that count)."""
    if sample_weight is None:
        return {c.key: c() for c in calls}
    w = np.asarray(sample_weight, dtype=float)
    rows = np.flatnonzero(w > 0)
    return {c.key: c(sample_weight=w[rows], rows=rows) for c in calls}


def as_weights(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    """float64 weights of length n (ones when None)."""
    if sample_weight is None:
        return np.ones(n, dtype=float)
    w = np.asarray(sample_weight, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"sample_weight has shape {w.shape}, expected ({n},)")
    return w


def weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    s = w.sum()
    return float(np.dot(w, x) / s) if s > 0 else float("nan")


__all__ = ["METRICS", "MetricCall", "register_metric", "evaluate_calls", "as_weights", "weighted_mean"]
