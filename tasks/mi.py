"""Myocardial infarction from the 12-lead ECG: detection (`mi`) and localisation to one of six territories
(`mi_territory`), as in PTB-XL MI detection / localisation benchmarks (Applied Soft Computing 2020).

Labels come from the source's `mi` and `mi_territory` columns. On PTB-XL (bench/data/sources/ptbxl.py) a code
counts when it is a key of `scp_codes`, whatever its likelihood (Strodthoff et al., IEEE JBHI 2021):
- mi = 1 when the ECG has the MI diagnostic superclass: one of its codes has `diagnostic` = 1 and
  `diagnostic_class` MI in scp_statements.csv (infarct codes IMI, ASMI, ILMI, AMI, ALMI, LMI, IPLMI, IPMI, PMI and
  the injury codes INJAS, INJAL, INJIN, INJLA, INJIL); every other ECG is 0;
- mi_territory from the infarct codes: IMI, ASMI, ILMI, AMI, ALMI, LMI as named, IPLMI counted as ILMI and IPMI as
  IMI; PMI and the injury codes name no territory. An ECG whose codes name exactly one territory has it; ECGs
  with codes of several territories (e.g. IMI + ASMI) or none are left out of the localisation task (the source
  keeps them all in `mi_territories`), so no precedence between territories is invented.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch.nn.functional as F

from bench.base.cohort import MI_TERRITORIES
from bench.base.metrics import MetricCall
from bench.base.metrics.classification import confusion_table
from tasks.base import register_task
from tasks._binary import CALIBRATION_METRICS, BinaryTask
from tasks._metric_plan import PlannedTask, column


@register_task("mi")
class MIDetection(BinaryTask):
    """Rows with an MI label (1/0); positive when the ECG shows myocardial infarction."""
    sources = frozenset({"synthetic", "folder", "ptb", "ptbxl"})

    heads = {"mi": 1}
    head = "mi"
    label = "MI"
    oracle_column = "oracle_p_mi"
    metrics = (
        ("auroc", "auroc", {}),
        ("auprc", "auprc", {}),
        ("accuracy", "accuracy", {"threshold": 0.5}),
        *CALIBRATION_METRICS,
    )

    def select(self, records: pd.DataFrame) -> np.ndarray:
        return np.isin(column(records, "mi"), (0.0, 1.0))

    def target(self, records: pd.DataFrame) -> np.ndarray:
        return (column(records, "mi") == 1).astype(int)


def territory_index(records: pd.DataFrame) -> np.ndarray:
    """Index into MI_TERRITORIES per row, -1 when absent or not one of the six."""
    if "mi_territory" not in records.columns:
        return np.full(len(records), -1)
    lookup = {t: i for i, t in enumerate(MI_TERRITORIES)}
    return records["mi_territory"].map(lambda v: lookup.get(v, -1) if isinstance(v, str) else -1).to_numpy(int)


@register_task("mi_territory")
class MITerritory(PlannedTask):
    """MI-positive rows with a territory; 6-way softmax over AMI, ASMI, ALMI, IMI, ILMI, LMI."""
    sources = frozenset({"synthetic", "folder", "ptb", "ptbxl"})

    heads = {"territory": len(MI_TERRITORIES)}
    primary_metric = "macro_auroc"
    #: the MI paper's DWT-PCA features keep 8 principal components for localisation (7 for detection)
    representation_defaults = {"dwt_pca": {"n_components": 8}}
    risk_columns = tuple(f"p_{t}" for t in MI_TERRITORIES)

    def select(self, records: pd.DataFrame) -> np.ndarray:
        return (column(records, "mi") == 1) & (territory_index(records) >= 0)

    def positives(self, records: pd.DataFrame) -> dict[str, int]:
        counts = np.bincount(territory_index(records)[territory_index(records) >= 0], minlength=len(MI_TERRITORIES))
        return {t: int(counts[i]) for i, t in enumerate(MI_TERRITORIES)}

    def encode(self, records: pd.DataFrame) -> dict[str, np.ndarray]:
        return {"territory": territory_index(records).astype(np.float32)}

    def loss(self, outputs, targets):
        return F.cross_entropy(outputs["territory"], targets["territory"].long().reshape(-1))

    def predict(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        z = np.asarray(outputs["territory"], dtype=float)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        prob = z / z.sum(axis=1, keepdims=True)
        return {f"p_{t}": prob[:, i] for i, t in enumerate(MI_TERRITORIES)}

    def _proba(self, scores: pd.DataFrame) -> np.ndarray:
        return scores[list(self.risk_columns)].to_numpy(dtype=float)

    def metric_calls(self, records: pd.DataFrame, scores: pd.DataFrame) -> list[MetricCall]:
        y, prob = territory_index(records), self._proba(scores)
        return [MetricCall("macro_auroc", "macro_auroc", (y, prob)),
                MetricCall("balanced_accuracy", "balanced_accuracy", (y, prob)),
                MetricCall("accuracy", "multiclass_accuracy", (y, prob))]

    def tables(self, records: pd.DataFrame, scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"confusion_matrix": confusion_table(territory_index(records), self._proba(scores), MI_TERRITORIES)}

    def oracle_scores(self, oracle: pd.DataFrame) -> dict[str, np.ndarray] | None:
        """P(territory | MI, markers), renormalised over the six territories."""
        cols = [f"oracle_p_{t}" for t in MI_TERRITORIES]
        if not set(cols) <= set(oracle.columns):
            return None
        p = oracle[cols].to_numpy(dtype=float)
        total = p.sum(axis=1, keepdims=True)
        p = np.divide(p, total, out=np.full_like(p, 1.0 / len(cols)), where=total > 0)
        return {f"p_{t}": p[:, i] for i, t in enumerate(MI_TERRITORIES)}
