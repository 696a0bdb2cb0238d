"""Task contract.

A task is a class registered with `@register_task(name)`; `__init__` stores keyword parameters (from the grid file).

- `heads`: {head name: output units}; models build one output per head.
- `primary_metric`: the validation/test metric used for best-epoch selection and tables; `higher_is_better`.
- `select(records) -> bool mask`: rows usable for this task (labels present).
- `encode(records) -> {target name: float32 array (n, ...)}`: per-row targets.
- `loss(outputs, targets) -> scalar tensor`: outputs/targets are dicts of tensors for a batch.
- `predict(outputs) -> {column: array (n,)}`: turns raw head outputs (numpy) into score columns for the
  per-ECG predictions artifact (probabilities, predicted survival per interval, ...).
- `evaluate(records, scores) -> {metric: float}`: pure function of the test rows and score columns.
- `epoch_indices(records, rng) -> indices`: training rows for one epoch (default: all).
- `oracle_scores(oracle) -> score columns` from a simulated cohort's oracle table (None if not applicable).
- `positives(records) -> {label: count}`: positive labels among rows `select` kept (`data check` reports them).
- `version`: bumped when the task's output changes (part of the cell key); `sources`: source schemes that can feed it.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

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

    def evaluate(self, records: pd.DataFrame, scores: pd.DataFrame) -> dict[str, float]:
        raise NotImplementedError

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
