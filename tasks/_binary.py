"""A binary ECG task: one logit head, BCE loss, probability score, discrimination and calibration metrics."""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from bench.base.metrics import MetricCall
from tasks._metric_plan import PlannedTask, masked_bce, sigmoid


class BinaryTask(PlannedTask):
    """Subclasses set `head`, `label`, `oracle_column`, `metrics` and implement `select` and `target`."""

    head: ClassVar[str] = ""
    #: Name of the positive class in `data check` counts (e.g. "MI").
    label: ClassVar[str] = ""
    oracle_column: ClassVar[str] = ""
    #: (reported key, registered metric, params) computed on (y, score).
    metrics: ClassVar[tuple[tuple[str, str, dict], ...]] = ()
    primary_metric = "auroc"

    def target(self, records: pd.DataFrame) -> np.ndarray:
        """0/1 label per selected row."""
        raise NotImplementedError

    def positives(self, records: pd.DataFrame) -> dict[str, int]:
        return {self.label: int(self.target(records).sum())}

    def encode(self, records: pd.DataFrame) -> dict[str, np.ndarray]:
        return {self.head: self.target(records).astype(np.float32)}

    def loss(self, outputs, targets):
        return masked_bce(outputs[self.head], targets[self.head])

    def predict(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"score": sigmoid(np.asarray(outputs[self.head]).reshape(-1))}

    def metric_calls(self, records: pd.DataFrame, scores: pd.DataFrame) -> list[MetricCall]:
        y = self.target(records).astype(int)
        s = scores["score"].to_numpy(dtype=float)
        return [MetricCall(key, metric, (y, s), dict(params)) for key, metric, params in self.metrics]

    def oracle_scores(self, oracle: pd.DataFrame) -> dict[str, np.ndarray] | None:
        if self.oracle_column not in oracle.columns:
            return None
        return {"score": oracle[self.oracle_column].to_numpy(dtype=float)}


CALIBRATION_METRICS: tuple[tuple[str, str, dict], ...] = (
    ("brier", "brier", {}),
    ("ece", "ece", {"n_bins": 10}),
    ("calib_slope", "calib_slope", {}),
    ("calib_intercept", "calib_intercept", {}),
)
