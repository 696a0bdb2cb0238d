"""Task-specific behaviour: AF survival sampling, predictions and incident-only metrics; LVEF window; MI
localisation artifacts."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
import torch

from bench.base.cohort import MI_TERRITORIES
from bench.harness.evaluation import evaluate_with_ci
from bench.data.simulator import simulate
from tasks import TASKS
from tasks.af_survival import SURV_COLUMNS
from tasks._survival_encoding import N_INTERVALS, survival_curve


@lru_cache(maxsize=1)
def cohort():
    records, _, oracle = simulate(160, 9)
    return records, oracle


def task_data(name, **params):
    records, oracle = cohort()
    task = TASKS.get(name)(**params)
    keep = np.asarray(task.select(records), bool)
    return task, records[keep].reset_index(drop=True), oracle[keep].reset_index(drop=True)


def test_af_epoch_draws_one_ecg_per_patient_afresh_each_epoch():
    task, rec, _ = task_data("af_survival")
    assert rec["patient_id"].duplicated().any()
    rng = np.random.default_rng(0)
    epochs = [task.epoch_indices(rec, rng) for _ in range(5)]
    for idx in epochs:
        assert len(idx) == rec["patient_id"].nunique()
        assert not rec["patient_id"].iloc[idx].duplicated().any()
    assert len({tuple(i) for i in epochs}) > 1
    again = np.random.default_rng(0)
    assert np.array_equal(task.epoch_indices(rec, again), epochs[0])
    every = TASKS.get("af_survival")(one_ecg_per_patient=False).epoch_indices(rec, rng)
    assert np.array_equal(every, np.arange(len(rec)))


def test_af_prediction_columns_are_consistent():
    task, rec, _ = task_data("af_survival")
    rng = np.random.default_rng(1)
    out = {"survival": rng.normal(3, 1, (len(rec), N_INTERVALS)).astype(np.float32),
           "age": rng.normal(0, 1, (len(rec), 1)), "sex": rng.normal(size=(len(rec), 1)),
           "af_statement": rng.normal(size=(len(rec), 1))}
    s = task.predict(out)
    surv = np.column_stack([s[c] for c in SURV_COLUMNS])
    assert (np.diff(surv, axis=1) <= 0).all() and ((surv > 0) & (surv < 1)).all()
    # incident risks: S_k / S_0, read on days 365, 730 and 1825
    assert np.allclose(s["risk_1y"], 1 - s["surv_05"] / s["surv_00"])
    assert np.allclose(s["risk_2y"], 1 - s["surv_10"] / s["surv_00"])
    assert np.allclose(s["risk_5y"], 1 - s["surv_25"] / s["surv_00"]) and np.allclose(s["score"], s["risk_5y"])
    assert np.allclose(s["age_pred"], out["age"][:, 0] * 15 + 60)
    offset = task.get_params()["survival_logit_offset"]
    assert np.allclose(surv, survival_curve(1 / (1 + np.exp(-(out["survival"].astype(float) + offset)))), rtol=1e-12)
    assert np.allclose(s["cumhaz_5y"], -np.log(s["surv_25"] / s["surv_00"]))
    # the prevalent interval's output moves S_0 (prevalent AUROC) and no incident risk
    moved = dict(out, survival=out["survival"] + np.eye(N_INTERVALS, dtype=np.float32)[0] * 4.0)
    s2 = task.predict(moved)
    assert not np.allclose(s2["surv_00"], s["surv_00"])
    assert all(np.allclose(s2[f"risk_{y}y"], s[f"risk_{y}y"], rtol=1e-12) for y in (1, 2, 5))


def test_af_untrained_head_starts_at_a_plausible_risk():
    zeros = {"survival": np.zeros((3, N_INTERVALS), np.float32)}
    assert TASKS.get("af_survival")().predict(zeros)["risk_5y"] == pytest.approx(1 - 0.995 ** 25)
    assert TASKS.get("af_survival")(survival_logit_offset=0.0).predict(zeros)["risk_5y"] == pytest.approx(1 - 0.5 ** 25)


def test_af_ranking_survives_risks_that_round_to_one():
    """An untrained model (p_j near 1/2) predicts 5-year survival ~ 0.5^25: every risk_5y rounds to 1 - 3e-8 and
    would tie; the discrimination metrics rank by cumulative hazard instead."""
    task, rec, orc = task_data("af_survival", survival_logit_offset=0.0)
    true = pd.DataFrame(task.oracle_scores(orc))
    logits = np.repeat(np.log(0.5 / 0.5) - 1e-3 * true[["cumhaz_5y"]].to_numpy(), N_INTERVALS, axis=1)
    s = pd.DataFrame(task.predict({"survival": logits}))
    assert np.ptp(s["risk_5y"]) < 1e-7
    metrics = task.evaluate(rec, s)
    assert metrics["c_index"] == pytest.approx(task.evaluate(rec, true)["c_index"])
    assert metrics["c_index"] > 0.6


def test_af_encoding_of_prevalent_rows_and_masked_auxiliary_losses():
    task, rec, _ = task_data("af_survival")
    t = task.encode(rec)
    prev = (rec["prevalent_af"] == 1).to_numpy()
    assert prev.any()
    assert (t["v_af"][prev, 0] == 1).all() and (t["v_censor"][prev].sum(1) == 0).all()
    events = (rec["af_event"] == 1).to_numpy() & ~prev
    assert (t["v_af"][events].sum(1) == 1).all() and (t["v_af"][~prev, 0] == 0).all()  # interval 0: prevalent only
    assert (t["v_censor"][~prev, 0] == 1).all()
    # auxiliary weights are task parameters: with age weight 0 the age output does not matter
    no_age = TASKS.get("af_survival")(age_weight=0.0)
    y = {k: torch.from_numpy(v) for k, v in t.items()}
    base = {h: torch.zeros(len(rec), u) for h, u in task.heads.items()}
    moved = dict(base, age=torch.full((len(rec), 1), 5.0))
    assert float(no_age.loss(moved, y)) == pytest.approx(float(no_age.loss(base, y)))
    assert float(task.loss(moved, y)) > float(task.loss(base, y))


def test_af_survival_metrics_ignore_rows_with_prevalent_af():
    task, rec, orc = task_data("af_survival")
    scores = pd.DataFrame(task.oracle_scores(orc))
    before = task.evaluate(rec, scores)
    prev = (rec["prevalent_af"] == 1).to_numpy()
    shuffled = scores.copy()
    shuffled.loc[prev, :] = 0.5
    after = task.evaluate(rec, shuffled)
    for key in ("c_index", "uno_c", "auc_5y", "brier_5y", "ibs", "calib_km_5y", "ici_5y"):
        assert after[key] == pytest.approx(before[key], nan_ok=True), key
    assert after["prevalent_auroc"] != before["prevalent_auroc"]


def test_af_calibration_table_and_oracle_against_itself():
    task, rec, orc = task_data("af_survival")
    scores = pd.DataFrame(task.oracle_scores(orc))
    metrics, artifacts = evaluate_with_ci(task, rec, scores, n_boot=50, seed=0, oracle_scores=scores)
    tab = artifacts["calibration_5y"]
    assert len(tab) == 10 and tab["n"].sum() == (rec["prevalent_af"] != 1).sum()
    assert tab["mean_predicted_risk_5y"].is_monotonic_increasing
    assert metrics["test/ece_vs_oracle"] == 0.0 and metrics["test/ece_vs_oracle_hi"] == 0.0
    assert metrics["oracle/c_index"] == metrics["test/c_index"]


def test_lvef_uses_echoes_within_the_window_only():
    records = pd.DataFrame({"patient_id": list("abcde"), "lvef": [35, 55, 30, np.nan, 40],
                            "lvef_days": [-100, 150, 200, 10, 182]})
    task = TASKS.get("lvef")()
    assert task.select(records).tolist() == [True, True, False, False, True]
    assert task.target(records[task.select(records)]).tolist() == [1, 0, 1]
    narrow = TASKS.get("lvef")(window_days=30, threshold=35)
    assert narrow.select(records).sum() == 0
    assert narrow.target(records.iloc[[0, 4]]).tolist() == [1, 0]


def test_mi_territory_rows_and_confusion_matrix_artifact():
    task, rec, orc = task_data("mi_territory")
    assert (rec["mi"] == 1).all() and rec["mi_territory"].isin(MI_TERRITORIES).all()
    detection, drec, _ = task_data("mi")
    assert len(drec) > len(rec) and set(drec["mi"]) == {0, 1}
    oracle = pd.DataFrame(task.oracle_scores(orc))
    assert np.allclose(oracle.sum(axis=1), 1.0)
    metrics, artifacts = evaluate_with_ci(task, rec, oracle, n_boot=50, seed=0)
    cm = artifacts["confusion_matrix"]
    assert list(cm["true"]) == list(MI_TERRITORIES)
    assert cm.drop(columns="true").to_numpy().sum() == len(rec)
    assert metrics["test/macro_auroc_lo"] <= metrics["test/macro_auroc"] <= metrics["test/macro_auroc_hi"]
