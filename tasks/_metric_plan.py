"""Shared pieces of the registered tasks: parameters with declared defaults (a typo in a grid file raises), and the
loss and score helpers they share. The evaluation contract itself (metric calls) is on `tasks.base.Task`."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from tasks.base import Task


class PlannedTask(Task):
    """A Task whose parameters have declared defaults (`defaults`); `get_params` resolves them."""

    #: Parameter names and defaults; unknown names raise (a typo in a grid file must not be ignored).
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise TypeError(f"task {self.name!r}: unknown parameter(s) {unknown}; known: {sorted(self.defaults)}")
        super().__init__(**params)

    def get_params(self) -> dict:
        return {**self.defaults, **self.params}

    def p(self, name: str) -> Any:
        return self.params.get(name, self.defaults[name])


def column(records: pd.DataFrame, name: str, default=np.nan) -> np.ndarray:
    """A records column as float (missing column -> all `default`)."""
    if name not in records.columns:
        return np.full(len(records), default, dtype=float)
    return pd.to_numeric(records[name], errors="coerce").to_numpy(dtype=float)


def masked_bce(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean binary cross-entropy over rows with mask 1 (0 when none)."""
    logits, target = logits.reshape(-1), target.reshape(-1).float()
    if mask is None:
        return F.binary_cross_entropy_with_logits(logits, target)
    mask = mask.reshape(-1).float()
    per = F.binary_cross_entropy_with_logits(logits, torch.nan_to_num(target), reduction="none")
    return (per * mask).sum() / mask.sum().clamp(min=1.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic
