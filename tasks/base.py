"""Task contract.

A task is a class registered with `@register_task(name)`; `__init__` stores keyword parameters (from the grid file).

- `heads`: {head name: output units}; models build one output per head.
- `primary_metric`: the validation/test metric used for best-epoch selection and tables; `higher_is_better`.
- `select(records) -> bool mask`: rows usable for this task (labels present).
- `encode(records) -> {target name: float32 array (n, ...)}`: per-row targets.
- `loss(outputs, targets) -> scalar tensor`: outputs/targets are dicts of tensors for a batch.
- `predict(outputs) -> {column: array (n,)}`: turns raw head outputs (numpy) into score columns for the
  per-ECG predictions artifact (probabilities, predicted survival per interval, ...).
- Evaluation, one contract for every task: `metric_calls(records, scores) -> [MetricCall]` describes every metric
  as a registered metric on row-aligned arrays (the primary metric among them), so the harness bootstraps any task
  by re-weighting rows (bench/harness/evaluation.py) and the report re-scores stored predictions the same way;
  `evaluate` runs the calls once, `primary_call` is the call behind `primary_metric` (the one place it is chosen),
  `tables(records, scores)` gives extra run artifacts, `risk_columns` the score columns that are absolute risks
  comparable with an oracle's.
- `epoch_indices(records, rng) -> indices`: training rows for one epoch (default: all).
- `oracle_scores(oracle) -> score columns` from a simulated cohort's oracle table (None if not applicable).
- `positives(records) -> {label: count}`: positive labels among rows `select` kept (`data check` reports them).
- `version`: bumped when the task's output changes (part of the cell key); `sources`: source schemes that can feed it.
- `representation_defaults`: {representation name: params} the task's protocol uses (e.g. 8 principal components for
  MI localisation); the harness puts them under the grid's own params when it expands cells, so they are part of the
  cell's config, logged params and key, and a grid that sets the param wins.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from bench.base.metrics import MetricCall, evaluate_calls
from bench.base.registry import Registry

TASKS: Registry = Registry("task", package="tasks")


def register_task(name: str):
    def deco(cls):
        cls.name = name
        return TASKS.register(name, heads=dict(cls.heads), primary_metric=cls.primary_metric)(cls)

    return deco


class Task:
    name: ClassVar[str] = ""
    heads: ClassVar[dict[str, int]] = {}
    primary_metric: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    #: Bumped whenever the task's records, targets, loss or metrics change; part of the cell key, so cells rerun.
    version: ClassVar[str] = "1"
    #: Source schemes (`synthetic`, `ptbxl`, `ptb`, `folder`, ...) whose cohorts can carry this task's labels; a grid
    #: pairing the task with any other source is refused when it loads.
    sources: ClassVar[frozenset[str]] = frozenset()
    #: Representation params of the task's protocol, by representation name, under the grid's explicit params.
    representation_defaults: ClassVar[dict[str, dict[str, object]]] = {}
    #: Score columns that are absolute risks comparable with the oracle's (`test/ece_vs_oracle`).
    risk_columns: ClassVar[tuple[str, ...]] = ("score",)

    def __init__(self, **params):
        self.params = dict(params)

    def get_params(self) -> dict:
        return dict(self.params)

    def select(self, records: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def encode(self, records: pd.DataFrame) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def loss(self, outputs, targets):
        raise NotImplementedError

    def predict(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def metric_calls(self, records: pd.DataFrame, scores: pd.DataFrame) -> list[MetricCall]:
        """Every metric of this task on these rows (index 0..n-1, row-aligned with `scores`)."""
        raise NotImplementedError

    def evaluate(self, records: pd.DataFrame, scores: pd.DataFrame) -> dict[str, float]:
        """Every metric once, on all rows."""
        return evaluate_calls(self.metric_calls(records.reset_index(drop=True), scores.reset_index(drop=True)))

    def primary_call(self, records: pd.DataFrame, scores: pd.DataFrame) -> MetricCall:
        """The metric call reported as `primary_metric` (best epoch, tables, paired comparisons, ROC curves)."""
        calls = [c for c in self.metric_calls(records.reset_index(drop=True), scores.reset_index(drop=True))
                 if c.key == self.primary_metric]
        if not calls:
            raise ValueError(f"task {self.name!r}: its metric calls have no {self.primary_metric!r} (the primary "
                             f"metric) for score columns {sorted(scores.columns)}")
        return calls[0]

    def tables(self, records: pd.DataFrame, scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Tables logged as run artifacts (confusion matrix, calibration by decile); none by default."""
        return {}

    def positives(self, records: pd.DataFrame) -> dict[str, int]:
        raise NotImplementedError

    def epoch_indices(self, records: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        return np.arange(len(records))

    def oracle_scores(self, oracle: pd.DataFrame) -> dict[str, np.ndarray] | None:
        return None

    def gradcam_target(self) -> tuple[str, object]:
        """(head, target) explained by Grad-CAM maps: target is a unit index, None (a one-unit head's unit, else
        each ECG's top unit) or a function of the head's (n, units) output giving one score per ECG."""
        return next(iter(self.heads)), None
