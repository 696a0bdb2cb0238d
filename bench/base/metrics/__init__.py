"""Metrics: pure functions on whole arrays, registered by name with `higher_is_better`.

Every metric takes its row-aligned arrays, an optional 1-D `sample_weight` and keyword parameters, and returns a
float (NaN when the metric is undefined on these rows, e.g. one class only: small validation sets must not raise).
Weights are what make the patient bootstrap cheap and exact: a resample that draws patient p k times is the
original rows with weight k on p's ECGs, so the bootstrap calls each metric with integer weights instead of
materialising resampled copies.

Each metric may also register a batch form that scores a whole (B, n) weight matrix in one call (inputs sorted
once, then a compiled pass per resample, resamples in parallel): 1,000 resamples of every survival metric would
otherwise take most of a cell's evaluation. The plain function stays the reference: the batch form returns what
calling it once per row of the matrix returns (tests/test_metrics_batch.py checks every registered metric).

A task describes its evaluation as a list of `MetricCall`s (output key, metric name, arrays, parameters);
`evaluate_calls` runs them once (point estimate), on one weight vector, or on a whole bootstrap weight matrix
(see bench/harness/evaluation.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from bench.base.registry import Registry

METRICS: Registry = Registry("metric", package="bench.base.metrics")


def register_metric(name: str, *, higher_is_better: bool | None, batch: Callable[..., np.ndarray] | None = None):
    """Register a metric function; `higher_is_better=None` for metrics with an ideal value (calibration slope 1).

    `batch(*arrays, weights=W, **params) -> (B,) values` is the same metric on each row of a (B, n) weight matrix
    W, a row's zero-weight rows being absent (as `evaluate_calls` drops them); without one, rows are looped.
    """
    return METRICS.register(name, higher_is_better=higher_is_better, batch=batch)


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

    def over_resamples(self, weights: np.ndarray, *, masked: bool = False) -> np.ndarray:
        """Values on each row of a (B, n) weight matrix (B, n_masked with `masked=True`: already limited to the
        mask's rows): one call of the metric's batch form, or the metric once per row when it has none or when an
        input is not finite (NaN handling stays the plain function's)."""
        weights = np.asarray(weights, dtype=float)
        arrays = tuple(np.asarray(a) for a in self.arrays)
        if self.mask is not None:
            keep = np.asarray(self.mask, dtype=bool)
            arrays = tuple(a[keep] for a in arrays)
            weights = weights if masked else weights[:, keep]
        batch = METRICS.entry(self.metric).info.get("batch")
        if batch is None or not all(np.isfinite(a).all() for a in arrays):
            fn: Callable[..., float] = METRICS.get(self.metric)
            out = np.empty(len(weights))
            for b, w in enumerate(weights):
                rows = np.flatnonzero(w > 0)
                out[b] = fn(*(a[rows] for a in arrays), sample_weight=w[rows], **self.params)
            return out
        return np.asarray(batch(*arrays, weights=np.ascontiguousarray(weights), **self.params), dtype=float)

    @property
    def higher_is_better(self) -> bool | None:
        return METRICS.entry(self.metric).info["higher_is_better"]


def evaluate_calls(calls: list[MetricCall], weights: np.ndarray | None = None, *,
                   per_resample: bool = False) -> dict[str, float] | dict[str, np.ndarray]:
    """Run every call on the same rows: once (no weights), on one weight vector (a float per key), or on each row
    of a (B, n) weight matrix (B values per key). Zero-weight rows are dropped first, so 'one class only' is
    judged on the rows that count. A matrix goes through the batch forms; `per_resample=True` loops over its
    rows with the plain functions instead (the reference the batch forms are tested against)."""
    if weights is None:
        return {c.key: c() for c in calls}
    w = np.asarray(weights, dtype=float)
    if w.ndim == 2:
        if per_resample:
            per = [evaluate_calls(calls, row) for row in w]
            return {c.key: np.array([p[c.key] for p in per]) for c in calls}
        masked: dict[int, np.ndarray] = {}  # calls sharing a mask share one copy of its weight columns
        for c in calls:
            if c.mask is not None and id(c.mask) not in masked:
                masked[id(c.mask)] = np.ascontiguousarray(w[:, np.asarray(c.mask, dtype=bool)])
        return {c.key: c.over_resamples(w if c.mask is None else masked[id(c.mask)], masked=c.mask is not None)
                for c in calls}
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


def weighted_means(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`weighted_mean` of x under each row of a (B, n) weight matrix (NaN where a row weighs nothing)."""
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (weights @ np.asarray(x, dtype=float)) / total, np.nan)


__all__ = ["METRICS", "MetricCall", "register_metric", "evaluate_calls", "as_weights", "weighted_mean",
           "weighted_means"]
