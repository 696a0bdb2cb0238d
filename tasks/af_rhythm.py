"""Atrial fibrillation or flutter in the ECG's own rhythm statements (binary), the PTB-XL rhythm labels AFIB and
AFLT (Wagner et al., Sci Data 2020).

Rule: positive when AFIB or AFLT is a key of the ECG's `scp_codes`, whatever its likelihood (rhythm statements
carry likelihood 0 in PTB-XL; Strodthoff et al., IEEE JBHI 2021 count every key); every other ECG is negative.
The source puts it in the `af` column (bench/data/sources/ptbxl.py).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from tasks._binary import CALIBRATION_METRICS, BinaryTask
from tasks._metric_plan import column
from tasks.base import register_task


@register_task("af_rhythm")
class AFRhythm(BinaryTask):
    """Rows with an `af` label (1/0); positive when the ECG shows atrial fibrillation or flutter."""
    sources = frozenset({"ptbxl"})

    heads = {"af": 1}
    head = "af"
    label = "AF"
    metrics = (
        ("auroc", "auroc", {}),
        ("auprc", "auprc", {}),
        ("accuracy", "accuracy", {"threshold": 0.5}),
        *CALIBRATION_METRICS,
    )

    def select(self, records: pd.DataFrame) -> np.ndarray:
        return np.isin(column(records, "af"), (0.0, 1.0))

    def target(self, records: pd.DataFrame) -> np.ndarray:
        return (column(records, "af") == 1).astype(int)
