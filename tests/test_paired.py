"""Paired model comparisons (bench/report/paired.py) and Holm's adjustment (bench/report/multiplicity.py).

`compare` scores all bootstrap resamples of each model in one batched metric call; on a simulated cohort its
interval and p-value equal those of the per-resample loop it replaced, on the same draws, for every kind of primary
metric (binary AUROC, macro AUROC, C-index)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.base.labels import labels_to_records
from bench.data.simulator.config import SimConfig
from bench.data.simulator.generate import plan_cohort, public_labels
from bench.report.multiplicity import holm
from bench.report.paired import SCORE, align, compare, primary_evaluator, resample_weights, split_predictions
from tasks.base import TASKS


@pytest.fixture(scope="module")
def cohort():
    """300 simulated patients (1-4 ECGs each): labels and the simulator's true risks."""
    plan, oracle = plan_cohort(300, seed=4, cfg=SimConfig())
    return labels_to_records(public_labels(plan)), oracle


def _predictions(task, records, oracle, noise: float, seed: int) -> pd.DataFrame:
    """A model's stored predictions: the true risk mixed with a share `noise` of uniform noise, as
    `predictions.csv` holds."""
    keep = task.select(records)
    rec = records[keep].reset_index(drop=True)
    truth = pd.DataFrame(task.oracle_scores(oracle[keep].reset_index(drop=True)))
    rng = np.random.default_rng(seed)
    blurred = (1 - noise) * truth.to_numpy(float) + noise * rng.random(truth.shape)
    scores = pd.DataFrame(blurred, columns=[f"{SCORE}{c}" for c in truth.columns])
    return pd.concat([rec, scores], axis=1)


def _loop_reference(task, preds_a, preds_b, n_boot, seed):
    """The per-resample loop `compare` used before: each model's metric on one weight row at a time."""
    seeds = sorted(preds_a)
    ref = preds_a[seeds[0]]
    weights = resample_weights(ref["patient_id"].to_numpy(), n_boot, seed)
    boot = np.zeros(len(weights))
    for s in seeds:
        fa, _ = primary_evaluator(task, *split_predictions(align(ref, preds_a[s])))
        fb, _ = primary_evaluator(task, *split_predictions(align(ref, preds_b[s])))
        boot += np.array([fa(w) - fb(w) for w in weights])
    boot /= len(seeds)
    return boot[np.isfinite(boot)]


@pytest.mark.parametrize("task_name", ["mi", "mi_territory", "af_survival"])
def test_batched_resamples_equal_the_per_resample_loop(cohort, task_name):
    records, oracle = cohort
    task = TASKS.get(task_name)()
    a = {s: _predictions(task, records, oracle, 0.2, 10 + s) for s in (0, 1)}
    b = {s: _predictions(task, records, oracle, 0.8, 20 + s) for s in (0, 1)}
    out = compare(task, a, b, n_boot=150, seed=3)
    boot = _loop_reference(task, a, b, 150, 3)
    assert len(boot) > 100
    lo, hi = np.percentile(boot, [2.5, 97.5])
    assert out.lo == pytest.approx(lo, rel=1e-9, abs=1e-12)
    assert out.hi == pytest.approx(hi, rel=1e-9, abs=1e-12)
    n = len(boot)
    p = min(1.0, 2 * min((1 + (boot <= 0).sum()) / (1 + n), (1 + (boot >= 0).sum()) / (1 + n)))
    assert out.p_boot == pytest.approx(p)
    assert out.diff > 0 and out.lo < out.diff < out.hi  # less noise scores better
    # the clustered AUROC test applies to a single binary AUROC only
    assert np.isfinite(out.p_clustered) == (task_name == "mi")


def test_holm_matches_a_hand_worked_case_and_skips_missing_comparisons():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    adjusted, m = holm([0.01, 0.04, np.nan, 0.03, 0.005])
    assert m == 4
    np.testing.assert_allclose(adjusted, [0.03, 0.06, np.nan, 0.06, 0.02])
    assert holm([0.6, 0.7])[0].tolist() == [1.0, 1.0]  # capped at 1
    assert holm([])[1] == 0 and holm([np.nan])[1] == 0
