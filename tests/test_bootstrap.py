"""Paired patient bootstrap, DeLong's test and evaluate_with_ci on a simulated cohort."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bench.base.bootstrap import bootstrap_indices, delong_test, percentile_ci, resample_rows, resample_weights
from bench.harness.evaluation import evaluate_with_ci
from bench.data.simulator import simulate
from tasks import TASKS


@lru_cache(maxsize=1)
def cohort():
    records, _, oracle = simulate(200, 21)
    return records, oracle


def task_rows(name):
    records, oracle = cohort()
    task = TASKS.get(name)()
    keep = np.asarray(task.select(records), bool)
    return task, records[keep].reset_index(drop=True), oracle[keep].reset_index(drop=True)


def test_resamples_depend_only_on_the_patient_set_and_seed():
    ids = np.array(["p3", "p1", "p2", "p1", "p4", "p3"])
    a = bootstrap_indices(ids, 50, seed=7)
    assert a.shape == (50, 4)
    assert np.array_equal(a, bootstrap_indices(ids[::-1], 50, seed=7))  # row order does not matter
    assert not np.array_equal(a, bootstrap_indices(ids, 50, seed=8))
    other_set = np.char.replace(ids, "p", "q")  # another test set of the same size draws differently
    assert not np.array_equal(a, bootstrap_indices(other_set, 50, seed=7))


def test_weights_keep_each_patients_ecgs_together():
    ids = np.array(["b", "a", "b", "c", "b"])
    draws = np.array([[0, 0, 2], [1, 1, 1]])  # positions in sorted ids a, b, c
    w = resample_weights(ids, draws)
    assert w.tolist() == [[0, 2, 0, 1, 0], [3, 0, 3, 0, 3]]
    assert resample_rows(w[0]).tolist() == [1, 1, 3]


def test_percentile_ci_ignores_undefined_resamples():
    lo, hi = percentile_ci(np.r_[np.arange(101.0), [np.nan] * 5])
    assert (lo, hi) == pytest.approx((2.5, 97.5))
    assert np.isnan(percentile_ci(np.full(4, np.nan))[0])


def _delong_reference(y, a, b):
    """DeLong's variance from its definition: structural components from the pairwise kernel (O(n^2))."""
    pos, neg = y == 1, y == 0

    def components(s):
        k = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
        return k.mean(1), k.mean(0), k.mean()

    (v10a, v01a, auc_a), (v10b, v01b, auc_b) = components(a), components(b)
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    cov = s10 / pos.sum() + s01 / neg.sum()
    return auc_a - auc_b, np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])


def test_delong_matches_definition_and_sklearn():
    task, rec, orc = task_rows("mi")
    y = task.target(rec)
    rng = np.random.default_rng(3)
    a = np.round(orc["oracle_p_mi"].to_numpy(), 2)  # with ties
    b = np.round(np.clip(a + rng.normal(0, 1.0, len(a)), 0, 1), 2)
    diff, se, p = delong_test(y, a, b)
    ref_diff, ref_se = _delong_reference(y, a, b)
    assert diff == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    assert diff == pytest.approx(ref_diff, abs=1e-12) and se == pytest.approx(ref_se, rel=1e-9)
    assert 0 < p < 0.05  # the oracle beats a heavily blurred copy of itself
    assert delong_test(y, a, a)[2] == 1.0
    assert all(np.isnan(delong_test(np.zeros(5), a[:5], b[:5])))


def test_delong_p_value_is_uniform_under_the_null():
    rng = np.random.default_rng(0)
    ps = []
    for _ in range(300):
        y = rng.random(120) < 0.3
        base = rng.normal(size=120) + y
        ps.append(delong_test(y.astype(int), base + rng.normal(0, 1, 120), base + rng.normal(0, 1, 120))[2])
    assert 0.02 < np.mean(np.array(ps) < 0.05) < 0.09


def test_every_model_gets_the_same_resamples_and_intervals_bracket_the_estimate():
    task, rec, orc = task_rows("lvef")
    oracle = pd.DataFrame(task.oracle_scores(orc))
    rng = np.random.default_rng(1)
    model_a = pd.DataFrame({"score": np.clip(oracle["score"] + rng.normal(0, 0.05, len(rec)), 0.001, 0.999)})
    model_b = pd.DataFrame({"score": rng.random(len(rec))})
    ma, art_a = evaluate_with_ci(task, rec, model_a, n_boot=200, seed=4, oracle_scores=oracle)
    mb, art_b = evaluate_with_ci(task, rec, model_b, n_boot=200, seed=4)
    pd.testing.assert_frame_equal(art_a["bootstrap_resamples"], art_b["bootstrap_resamples"])
    assert art_a["bootstrap_resamples"].shape == (200, 1 + rec["patient_id"].nunique())
    for key in ("auroc", "auprc", "brier", "ece", "calib_slope", "calib_intercept", "sens_at_90spec"):
        assert ma[f"test/{key}_lo"] <= ma[f"test/{key}"] <= ma[f"test/{key}_hi"], key
        assert f"oracle/{key}" in ma and f"oracle/{key}_lo" in ma
    assert 0 < ma["test/ece_vs_oracle"] < 0.06
    assert "test/ece_vs_oracle" not in mb and not any(k.startswith("oracle/") for k in mb)
    # paired: per-resample AUROC differences are available and favour the better model
    diff = art_a["bootstrap_metrics"]["test/auroc"] - art_b["bootstrap_metrics"]["test/auroc"]
    assert (diff > 0).mean() > 0.95
    info = art_a["metric_info"].set_index("metric")
    assert info.loc["test/auroc", "higher_is_better"] and not info.loc["test/brier", "higher_is_better"]


def test_weighted_bootstrap_equals_resampling_rows():
    """A resample scored by weights (what evaluate_with_ci does) equals the task evaluated on the resampled rows."""
    task, rec, orc = task_rows("af_survival")
    scores = pd.DataFrame(task.oracle_scores(orc))
    _, artifacts = evaluate_with_ci(task, rec, scores, n_boot=30, seed=2)
    pids = rec["patient_id"].astype(str).to_numpy()
    weights = resample_weights(pids, bootstrap_indices(pids, 30, 2))
    for b in (0, 11, 29):
        rows = resample_rows(weights[b])
        slow = task.evaluate(rec.iloc[rows], scores.iloc[rows])
        for key in ("c_index", "uno_c", "auc_1y", "auc_5y", "brier_5y", "ibs", "calib_slope_5y", "ici_5y"):
            fast = artifacts["bootstrap_metrics"][f"test/{key}"].iloc[b]
            assert fast == pytest.approx(slow[key], rel=1e-6), (key, b)
