"""Batch forms of the metrics (a whole bootstrap weight matrix per call) against the plain per-resample path on
the same draws, for every registered task's metrics on simulated cohorts: scores with exact ties and near-ties
(within the concordance tolerance), tied and censored follow-up times, and a small cohort where resamples lose a
class or every event (NaN in both paths)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from bench.base.bootstrap import bootstrap_indices, resample_weights
from bench.base.metrics import METRICS, MetricCall, evaluate_calls
from bench.data.simulator.generate import plan_cohort, public_labels
from bench.base.labels import labels_to_records
from tasks import TASKS
from tasks.ptbxl_super import COLUMNS as SUPER_COLUMNS

N_BOOT = 120


@lru_cache(maxsize=2)
def cohort(n_patients: int, seed: int):
    """Labels and oracle of a simulated cohort (no waveforms: the metrics only see labels and scores)."""
    plan, oracle = plan_cohort(n_patients, seed)
    return labels_to_records(public_labels(plan), where=f"synthetic:{n_patients},seed={seed}"), oracle


def model_scores(task, records: pd.DataFrame, oracle: pd.DataFrame, rng) -> pd.DataFrame:
    """A blurred oracle as a model's scores, rounded to two decimals (exact ties), 1e-10 apart on a tenth of the
    rows (ties only within the concordance tolerance); heads the oracle lacks (age, sex) from random outputs."""
    n = len(records)
    scores = pd.DataFrame(task.oracle_scores(oracle))
    outputs = {h: rng.normal(size=(n, k)) if k > 1 else rng.normal(size=n) for h, k in task.heads.items()}
    for col, values in task.predict(outputs).items():
        if col not in scores:
            scores[col] = values
    for col in scores:
        v = scores[col].to_numpy(float)
        if ((v >= 0) & (v <= 1)).all():
            v = expit(logit(np.clip(v, 1e-6, 1 - 1e-6)) + rng.normal(0, 0.7, n))
        else:
            v = v * np.exp(rng.normal(0, 0.3, n))
        scores[col] = np.round(v, 2) + 1e-10 * (rng.random(n) < 0.1)
    return scores


def with_ptbxl_labels(records: pd.DataFrame, rng) -> pd.DataFrame:
    """The simulated records plus the label columns of the PTB-XL-only tasks (superclasses, AF rhythm), drawn at
    roughly PTB-XL's prevalences: those tasks' metrics see only labels and scores, so this exercises them here."""
    out = records.copy()
    for col, p in zip(SUPER_COLUMNS, (0.5, 0.2, 0.25, 0.2, 0.12)):
        out[col] = (rng.random(len(out)) < p).astype(float)
    out["af"] = (rng.random(len(out)) < 0.08).astype(float)
    return out


def label_scores(task, records: pd.DataFrame, rng) -> pd.DataFrame:
    """Scores of a model that sees the label through noise (for tasks with no simulated oracle), rounded to two
    decimals (exact ties)."""
    targets = task.encode(records)
    outputs = {}
    for head, k in task.heads.items():
        y = np.asarray(targets[head], float).reshape(len(records), -1) if head in targets else 0.0
        outputs[head] = (2.0 * y + rng.normal(size=(len(records), k))).squeeze(-1 if k == 1 else ())
    return pd.DataFrame(task.predict(outputs)).round(2)


def task_calls(name: str, n_patients: int, seed: int):
    records, oracle = cohort(n_patients, seed)
    task = TASKS.get(name)()
    rng = np.random.default_rng(seed)
    if "synthetic" not in task.sources:
        records = with_ptbxl_labels(records, rng)
    keep = np.asarray(task.select(records), bool)
    rec, orc = records[keep].reset_index(drop=True), oracle[keep].reset_index(drop=True)
    if "synthetic" not in task.sources:
        calls = list(task.metric_calls(rec, label_scores(task, rec, rng)))
        pids = rec["patient_id"].astype(str).to_numpy()
        return calls, resample_weights(pids, bootstrap_indices(pids, N_BOOT, seed))
    scores = model_scores(task, rec, orc, rng)
    calls = list(task.metric_calls(rec, scores))
    cols = [c for c in task.risk_columns if c in scores]
    calls.append(MetricCall("vs_oracle", "mean_abs_diff", (scores[cols].to_numpy(float),
                                                            pd.DataFrame(task.oracle_scores(orc))[cols].to_numpy())))
    pids = rec["patient_id"].astype(str).to_numpy()
    return calls, resample_weights(pids, bootstrap_indices(pids, N_BOOT, seed))


def assert_same(batch: dict, reference: dict) -> None:
    assert batch.keys() == reference.keys()
    for key in reference:
        np.testing.assert_allclose(batch[key], reference[key], rtol=0, atol=1e-9, equal_nan=True, err_msg=key)


@pytest.mark.parametrize("name", TASKS.names())
@pytest.mark.parametrize("n_patients, seed", [(400, 3), (40, 8)])
def test_batch_equals_per_resample_reference(name, n_patients, seed):
    calls, weights = task_calls(name, n_patients, seed)
    batch = evaluate_calls(calls, weights)
    reference = evaluate_calls(calls, weights, per_resample=True)
    assert_same(batch, reference)
    if n_patients >= 400:  # a realistic test set: every metric is defined on (nearly) every resample
        for key, values in reference.items():
            assert np.isfinite(values).mean() > 0.9, key


def test_every_registered_metric_has_a_batch_form_and_is_checked_here():
    used = {c.metric for name in TASKS.names() for c in task_calls(name, 400, 3)[0]}
    for entry in METRICS:
        assert entry.info.get("batch") is not None, entry.name
    assert used == set(METRICS.names())


def test_one_weight_row_and_non_finite_inputs_take_the_plain_path():
    calls, weights = task_calls("af_survival", 400, 3)
    row = evaluate_calls(calls, weights[5])
    batch = evaluate_calls(calls, weights[:8])
    assert {k: batch[k][5] for k in batch} == pytest.approx(row, abs=1e-9, nan_ok=True)
    auroc = next(c for c in calls if c.metric == "auroc")
    score = auroc.arrays[1].copy()
    score[3] = np.nan  # a NaN score: values (NaN where row 3 is drawn) are the plain function's
    broken = MetricCall("broken", "auroc", (auroc.arrays[0], score), mask=auroc.mask)
    assert_same({"broken": broken.over_resamples(weights)},
                evaluate_calls([broken], weights, per_resample=True))
