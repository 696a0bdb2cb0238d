"""LVEF <= 40 % within 6 months of the ECG (left ventricular systolic dysfunction; Attia et al., Nat Med 2019)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.base import register_task
from tasks._binary import CALIBRATION_METRICS, BinaryTask
from tasks._metric_plan import column


@register_task("lvef")
class LVEF(BinaryTask):
    """Rows with an LVEF measured within `window_days` of the ECG; positive when LVEF <= `threshold` %."""
    sources = frozenset({"synthetic", "folder"})

    heads = {"lvef": 1}
    head = "lvef"
    label = "LVEF<=40"
    oracle_column = "oracle_p_lvef"
    defaults = {"threshold": 40.0, "window_days": 182}
    metrics = (
        ("auroc", "auroc", {}),
        ("auprc", "auprc", {}),
        *CALIBRATION_METRICS,
        ("sens_at_90spec", "sens_at_spec", {"specificity": 0.9}),
    )

    def select(self, records: pd.DataFrame) -> np.ndarray:
        lvef, days = column(records, "lvef"), column(records, "lvef_days")
        return np.isfinite(lvef) & np.isfinite(days) & (np.abs(days) <= float(self.p("window_days")))

    def target(self, records: pd.DataFrame) -> np.ndarray:
        return (column(records, "lvef") <= float(self.p("threshold"))).astype(int)
