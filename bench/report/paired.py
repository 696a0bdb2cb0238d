"""Paired comparisons of two models of one task, recomputed from the runs' `predictions.csv` joined on `ecg_id`.

Every model of a task is scored on the same test set (the split seed is fixed per grid), so the two prediction
tables are aligned row for row on `ecg_id` and resampled with the same patient bootstrap draws
(`bench.base.bootstrap.bootstrap_indices`). Seeds are paired (model A seed s against model B seed s); the difference is
the mean over paired seeds of metric(A) - metric(B), its 95 % interval the percentile interval of that mean over
the shared resamples. The metric is the task's primary metric call (`Task.primary_call`), scored on every
resample in one batched call (its `*_batch` form over the (n_boot, n_rows) weight matrix). With K test folds a
seed's predictions are its folds' out-of-fold predictions, pooled. When the primary metric is an AUROC, the
patient-clustered AUROC test (`bench.base.metrics.clustered_auc`, Obuchowski 1997: DeLong's test assumes
independent ECGs, which a patient's several ECGs are not) is run per seed; the largest p over seeds is reported
(every seed must agree for a small p).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SCORE, ORACLE, WAVEFORM_ORACLE = "score_", "oracle_", "oracle_waveform_"
#: The fQRS-blind oracle's columns (written by bench.harness.runner.score_part as FQRS_BLIND).
FQRS_BLIND = "fqrs_blind_oracle_"
#: Every score prefix of a predictions table (the model's, the full, waveform and fQRS-blind oracles').
PREFIXES = (SCORE, ORACLE, WAVEFORM_ORACLE, FQRS_BLIND)


@dataclass
class Paired:
    diff: float = float("nan")
    lo: float = float("nan")
    hi: float = float("nan")
    p_boot: float = float("nan")
    p_clustered: float = float("nan")
    seeds: list[int] = field(default_factory=list)
    note: str = ""
    a: float = float("nan")  # metric of A, mean over the paired seeds
    b: float = float("nan")


def split_predictions(pred: pd.DataFrame, which: str = SCORE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records: the label columns, scores: `which`-prefixed columns with the prefix removed). A longer prefix
    that starts with `which` is another score set (`oracle_waveform_` is not the full oracle's `oracle_`)."""
    labels = [c for c in pred.columns if not c.startswith(PREFIXES)]
    longer = tuple(p for p in PREFIXES if p != which and p.startswith(which))
    scores = pred[[c for c in pred.columns if c.startswith(which) and not c.startswith(longer)]]
    return pred[labels], scores.rename(columns=lambda c: c[len(which):])


def align(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame | None:
    """`b` reordered to `a`'s ecg_id order, or None if the two runs were not scored on the same ECGs."""
    if len(a) != len(b) or set(a["ecg_id"]) != set(b["ecg_id"]) or a["ecg_id"].duplicated().any():
        return None
    return b.set_index("ecg_id").loc[a["ecg_id"]].reset_index()


def primary_evaluator(task, records: pd.DataFrame, scores: pd.DataFrame):
    """(weights -> the task's primary metric (None = all rows once), the MetricCall behind it)."""
    from bench.base.metrics import evaluate_calls

    call = task.primary_call(records, scores)
    return (lambda w: evaluate_calls([call], w)[call.key]), call


def resample_weights(patient_ids: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_rows) patient-bootstrap weights, the draws every run of this test set shares."""
    from bench.base.bootstrap import bootstrap_indices, resample_weights as weights

    pids = np.asarray(patient_ids).astype(str)
    return weights(pids, bootstrap_indices(pids, n_boot, seed))


def compare(task, preds_a: dict[int, pd.DataFrame], preds_b: dict[int, pd.DataFrame], *,
            n_boot: int = 200, seed: int = 0, which_b: str = SCORE) -> Paired:
    """Paired difference of the task's primary metric, A - B, over the seeds both have. `which_b='oracle_'`
    (or `'oracle_waveform_'`) compares A with that oracle's columns stored in A's own predictions (the oracle gap)."""
    seeds = sorted(set(preds_a) & set(preds_b))
    if not seeds:
        return Paired(note="no seed finished for both")
    ref = preds_a[seeds[0]]
    weights = resample_weights(ref["patient_id"].to_numpy(), n_boot, seed)
    diffs, va, vb, boot, p_clustered = [], [], [], np.zeros(len(weights)), []
    for s in seeds:
        a, b = align(ref, preds_a[s]), align(ref, preds_b[s])
        if a is None or b is None:
            return Paired(seeds=seeds, note="not paired: the runs were scored on different test ECGs")
        fa, call_a = primary_evaluator(task, *split_predictions(a))
        fb, call_b = primary_evaluator(task, *split_predictions(b, which_b))
        va.append(fa(None))
        vb.append(fb(None))
        diffs.append(va[-1] - vb[-1])
        boot += fa(weights) - fb(weights)  # every resample in one batched call per model
        p_clustered.append(_clustered_p(call_a, call_b, ref["patient_id"].to_numpy()))
    boot /= len(seeds)
    boot = boot[np.isfinite(boot)]
    out = Paired(diff=float(np.mean(diffs)), seeds=seeds, a=float(np.mean(va)), b=float(np.mean(vb)))
    if len(boot):
        out.lo, out.hi = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
        n = len(boot)  # (1 + count) / (1 + n): a p-value can not be smaller than the resampling resolves
        out.p_boot = float(min(1.0, 2 * min((1 + (boot <= 0).sum()) / (1 + n), (1 + (boot >= 0).sum()) / (1 + n))))
    finite = [p for p in p_clustered if math.isfinite(p)]
    out.p_clustered = max(finite) if len(finite) == len(p_clustered) and finite else float("nan")
    return out


def _clustered_p(call_a, call_b, patient_ids: np.ndarray) -> float:
    """Patient-clustered AUROC test p when both primary metrics are the AUROC of the same binary target (NaN
    otherwise); the calls' rows are aligned with `patient_ids`."""
    if call_a.metric != "auroc" or call_b.metric != "auroc":
        return float("nan")
    from bench.base.metrics.clustered_auc import clustered_auc_test

    keep = np.ones(len(call_a.arrays[0]), dtype=bool)
    for c in (call_a, call_b):
        if c.mask is not None:
            keep &= np.asarray(c.mask, dtype=bool)
    (ya, sa), (yb, sb) = ((np.asarray(c.arrays[0])[keep], np.asarray(c.arrays[1], float)[keep])
                          for c in (call_a, call_b))
    if not np.array_equal(ya, yb):
        return float("nan")
    return clustered_auc_test(ya, sa, sb, np.asarray(patient_ids)[keep]).p
