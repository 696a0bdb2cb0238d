"""The five PTB-XL diagnostic superclasses NORM, MI, STTC, CD, HYP as a multi-label task (Strodthoff et al., "Deep
learning for ECG analysis: benchmarks and insights from PTB-XL", IEEE JBHI 2021: full-data reference macro AUROC
0.930, resnet1d_wang at 100 Hz, folds 1-8 / 9 / 10).

Rule (as in that benchmark): an ECG has a superclass when one of its `scp_codes` keys, whatever its likelihood,
has `diagnostic` = 1 in scp_statements.csv and that `diagnostic_class`; the source writes one 0/1 column
`superclass_<CLASS>` per class (bench/data/sources/ptbxl.py). ECGs with none of the five (only rhythm or form
statements) are left out, as Strodthoff et al. drop samples without a label. Five sigmoid outputs, binary
cross-entropy; primary metric macro AUROC over the five, with per-class AUROC and AUPRC, all bootstrapped.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch.nn.functional as F

from bench.base.cohort import SUPERCLASSES
from bench.base.metrics import MetricCall
from tasks._metric_plan import PlannedTask, column, sigmoid
from tasks.base import register_task

COLUMNS = tuple(f"superclass_{c}" for c in SUPERCLASSES)


def superclass_matrix(records: pd.DataFrame) -> np.ndarray:
    """(n, 5) float labels, NaN where the source has no superclass column."""
    return np.stack([column(records, c) for c in COLUMNS], axis=1) if len(records) else np.zeros((0, 5))


@register_task("ptbxl_super")
class PTBXLSuperclasses(PlannedTask):
    """ECGs with at least one diagnostic superclass; one sigmoid output per superclass."""
    sources = frozenset({"ptbxl"})

    heads = {"superclass": len(SUPERCLASSES)}
    primary_metric = "macro_auroc"
    risk_columns = tuple(f"p_{c}" for c in SUPERCLASSES)

    def select(self, records: pd.DataFrame) -> np.ndarray:
        y = superclass_matrix(records)
        return np.isin(y, (0.0, 1.0)).all(axis=1) & (y == 1).any(axis=1)

    def positives(self, records: pd.DataFrame) -> dict[str, int]:
        return {c: int(n) for c, n in zip(SUPERCLASSES, (superclass_matrix(records) == 1).sum(axis=0))}

    def encode(self, records: pd.DataFrame) -> dict[str, np.ndarray]:
        return {"superclass": (superclass_matrix(records) == 1).astype(np.float32)}

    def loss(self, outputs, targets):
        return F.binary_cross_entropy_with_logits(outputs["superclass"], targets["superclass"].float())

    def predict(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        p = sigmoid(outputs["superclass"])
        return {f"p_{c}": p[:, i] for i, c in enumerate(SUPERCLASSES)}

    def metric_calls(self, records: pd.DataFrame, scores: pd.DataFrame) -> list[MetricCall]:
        y = (superclass_matrix(records) == 1).astype(int)
        p = scores[list(self.risk_columns)].to_numpy(dtype=float)
        calls = [MetricCall("macro_auroc", "multilabel_macro_auroc", (y, p))]
        for i, c in enumerate(SUPERCLASSES):
            calls += [MetricCall(f"auroc_{c}", "auroc", (y[:, i], p[:, i])),
                      MetricCall(f"auprc_{c}", "auprc", (y[:, i], p[:, i]))]
        return calls
