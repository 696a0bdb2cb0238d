"""ECG vs clinical risk on simulated cohorts with known structure: the fitted clinical Cox recovers CHARGE-AF's
directions, the combination adds the ECG to the covariates, subgroup metrics equal the metric on the subgroup's
rows, and the ECG score is an independent predictor when (and only when) it carries information.

The "ECG model" here is the simulator's ECG-only truth (`oracle_ecg_*`, `oracle_p_*`): a score whose information
content is known, so the assertions test the clinical layer, not a network's training."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.data.simulator.covariates import CHARGE_AF_BETA
from bench.data.simulator.config import SimConfig
from bench.data.simulator.generate import plan_cohort, public_labels
from bench.base.labels import labels_to_records
from bench.harness.clinical import ClinicalRisk, CombinedRisk, clinical_evaluation, independent_predictor
from bench.harness.clinical.independent import logistic_wald
from bench.harness.clinical.subgroups import age_band, subgroup_metrics
from bench.harness.evaluation import evaluate_with_ci, oracle_part
from tasks.base import TASKS


@pytest.fixture(scope="module")
def big():
    """6,000 simulated patients (labels and oracle only) split into two halves by patient."""
    plan, oracle = plan_cohort(6000, seed=5, cfg=SimConfig(charge_af=True))
    records = labels_to_records(public_labels(plan))
    half = (records["patient_id"].str[-6:].astype(int) % 2 == 0).to_numpy()
    return records, oracle, half


def ecg_truth(task, oracle: pd.DataFrame) -> pd.DataFrame:
    """The ECG-only truth in the task's score format (AF: the oracle blind to the covariates)."""
    if task.name == "af_survival":
        oracle = oracle.filter(like="oracle_ecg_surv").rename(columns=lambda c: c.replace("oracle_ecg_", "oracle_"))
    return pd.DataFrame(task.oracle_scores(oracle))


def test_clinical_cox_recovers_the_planted_charge_af_directions(big):
    records, _, _ = big
    first = records[~records["patient_id"].duplicated()].reset_index(drop=True)
    cox = ClinicalRisk(TASKS.get("af_survival")()).fit(first).model_.summary
    for name, beta in CHARGE_AF_BETA.items():
        col = "white" if name == "white" else name
        assert np.sign(cox.loc[col, "coef"]) == np.sign(beta), name
    assert cox.loc["age", "z"] > 10
    assert abs(cox.loc["sex", "z"]) < 2  # CHARGE-AF has no sex term: height carries it


def test_combination_adds_the_ecg_to_the_covariates(big):
    """The ECG score is the waveform oracle (what the strip alone shows, as a network sees it): the ECG-only truth
    also knows the header's exact age, which the clinical model's linear predictor carries as well."""
    records, oracle, half = big
    task = TASKS.get("af_survival")()
    ecg = pd.DataFrame(task.oracle_scores(oracle_part(oracle, "waveform")))
    fit_r, fit_e = records[half].reset_index(drop=True), ecg[half].reset_index(drop=True)
    test_r, test_e = records[~half].reset_index(drop=True), ecg[~half].reset_index(drop=True)
    clin = ClinicalRisk(task).fit(fit_r)
    comb = CombinedRisk(task, clinical=clin).fit(fit_r, fit_e)
    c = {"clinical": task.evaluate(test_r, clin.scores(test_r))["c_index"],
         "combined": task.evaluate(test_r, comb.scores(test_r, test_e))["c_index"],
         "ecg": task.evaluate(test_r, test_e)["c_index"]}
    assert c["clinical"] > 0.75  # clinical-only scores discriminate AF well above chance
    assert c["combined"] > c["clinical"] + 0.01 and c["combined"] > c["ecg"]


@pytest.fixture(scope="module")
def small():
    """400 patients with a patient-wise train / val / test split (60 / 20 / 20 %)."""
    plan, oracle = plan_cohort(400, seed=8, cfg=SimConfig(charge_af=True))
    records = labels_to_records(public_labels(plan))
    k = records["patient_id"].str[-6:].astype(int).to_numpy() % 5
    return records, oracle, {"train": k <= 2, "val": k == 3, "test": k == 4}


@pytest.mark.parametrize("task_name", ["mi", "mi_territory"])
def test_clinical_evaluation_keys_and_paired_differences(small, task_name):
    records, oracle, split = small
    task = TASKS.get(task_name)()
    sel = task.select(records)
    parts = {s: (records[m & sel].reset_index(drop=True), ecg_truth(task, oracle[m & sel]).reset_index(drop=True))
             for s, m in split.items()}
    metrics, artifacts = clinical_evaluation(task, parts["train"][0], *parts["val"], *parts["test"], n_boot=30)
    pm = task.primary_metric
    # the runner's own ECG evaluation (same n_boot and seed) gives the same paired differences
    ecg_m, ecg_a = evaluate_with_ci(task, *parts["test"], n_boot=30)
    again, _ = clinical_evaluation(task, parts["train"][0], *parts["val"], *parts["test"], n_boot=30,
                                   ecg_evaluation=(ecg_m, ecg_a["bootstrap_metrics"]))
    assert again == metrics
    for prefix in ("clinical", "combined"):
        assert metrics[f"{prefix}/{pm}_lo"] <= metrics[f"{prefix}/{pm}"] <= metrics[f"{prefix}/{pm}_hi"]
    d = metrics[f"diff/combined_vs_clinical/{pm}"]
    assert d == pytest.approx(metrics[f"combined/{pm}"] - metrics[f"clinical/{pm}"])
    if task_name == "mi":  # (territories: too few MI patients in 400 to fit 18 inputs on the validation split)
        # the ECG truth adds to the covariates (point estimate: with ~80 test patients and 30 resamples the
        # interval's lower bound is too noisy to assert on)
        assert d > 0.05 and metrics[f"diff/combined_vs_clinical/{pm}_hi"] > 0.05
    assert len(artifacts["clinical_predictions"]) == len(parts["test"][0])
    assert metrics["clinical/n_covariates"] == 12


def test_clinical_false_or_no_covariates_skips_the_clinical_layer(small):
    records, oracle, split = small
    task = TASKS.get("mi")()
    r, s = records[split["test"]].reset_index(drop=True), ecg_truth(task, oracle[split["test"]])
    assert clinical_evaluation(task, r, r, s, r, s, clinical=False, n_boot=5) == ({}, {})
    bare = r.drop(columns=["age", "sex", "race", "height_cm", "weight_kg", "sbp", "dbp", "smoker", "bp_meds",
                           "diabetes", "heart_failure", "prior_mi"])
    assert clinical_evaluation(task, bare, bare, s, bare, s, n_boot=5) == ({}, {})
    no_mi = r[r["mi"] == 0].reset_index(drop=True)
    metrics, artifacts = clinical_evaluation(task, no_mi, r, s, r, s, n_boot=5)
    assert metrics == {} and artifacts["clinical_skipped"]["reason"].tolist() == [
        "task 'mi': 1 outcome class(es) in the training split, need 2"]


def test_subgroup_metrics_equal_the_metric_on_the_subgroup_rows(small):
    records, oracle, split = small
    task = TASKS.get("mi")()
    r = records[split["test"] | split["val"]].reset_index(drop=True)
    s = ecg_truth(task, oracle[split["test"] | split["val"]]).reset_index(drop=True)
    m = subgroup_metrics(task, r, s, ["sex", "age_band"], age_bands=(60.0,), n_boot=20)
    for key, rows in (("sex:1", r["sex"] == 1), ("sex:0", r["sex"] == 0), ("age_band:lt60", r["age"] < 60),
                      ("age_band:ge60", r["age"] >= 60)):
        direct = task.evaluate(r[rows].reset_index(drop=True), s[rows].reset_index(drop=True))
        assert m[f"subgroup/{key}/auroc"] == pytest.approx(direct["auroc"])
        assert m[f"subgroup/{key}/n_ecgs"] == rows.sum()
        assert m[f"subgroup/{key}/n_patients"] == r.loc[rows, "patient_id"].nunique()
        assert m[f"subgroup/{key}/positives"] == (r.loc[rows, "mi"] == 1).sum()
        observed_minus_predicted = (r.loc[rows, "mi"] == 1).mean() - s.loc[rows, "score"].mean()
        assert m[f"subgroup/{key}/calib_in_the_large"] == pytest.approx(observed_minus_predicted)


def test_age_band_labels_and_edges():
    assert list(age_band(np.array([30, 50, 64.9, 65, 90, np.nan]), (50, 65))) == \
        ["lt50", "50-65", "50-65", "ge65", "ge65", ""]


def test_informative_score_is_an_independent_predictor_and_noise_is_not(big):
    records, oracle, half = big
    task = TASKS.get("af_survival")()
    r, e = records[~half].reset_index(drop=True), ecg_truth(task, oracle[~half]).reset_index(drop=True)
    m = independent_predictor(task, r, e)
    assert m["independent/hr_per_sd_lo"] > 1 and m["independent/p"] < 1e-6
    # a score unrelated to the outcome: p < 0.001 would happen once in a thousand seeds
    noise = pd.DataFrame({"cumhaz_5y": np.exp(np.random.default_rng(0).normal(size=len(r)))})
    m0 = independent_predictor(task, r, noise)
    assert m0["independent/p"] > 0.001 and m0["independent/hr_per_sd_lo"] < 1.1 and m0["independent/hr_per_sd_hi"] > 0.9


def test_cluster_robust_wald_is_unchanged_when_every_patient_is_duplicated():
    """Copies of a patient's row in the same cluster add no information: the clustered sandwich sees that."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 2))
    y = (rng.random(300) < 1 / (1 + np.exp(-(0.8 * x[:, 0] - 0.5)))).astype(int)
    g = np.arange(300)
    b1, se1 = logistic_wald(x, y, g)
    b2, se2 = logistic_wald(np.vstack([x, x]), np.r_[y, y], np.r_[g, g])
    np.testing.assert_allclose(b1, b2, rtol=1e-4)
    np.testing.assert_allclose(se1, se2, rtol=1e-3)
    assert b1[0] / se1[0] > 3 and abs(b1[1] / se1[1]) < 3


def test_clinical_table_and_forest_plot_from_logged_metrics(small, tmp_path):
    from bench.report.clinical import clinical_tables, forest_plots
    from bench.report.runs import RunSet

    records, oracle, split = small
    task = TASKS.get("mi")()
    parts = {s: (records[m].reset_index(drop=True), ecg_truth(task, oracle[m]).reset_index(drop=True))
             for s, m in split.items()}
    metrics, _ = clinical_evaluation(task, parts["train"][0], *parts["val"], *parts["test"], n_boot=20,
                                     subgroups=["sex"])
    metrics.update({"test/auroc": 0.9, "test/auroc_lo": 0.8, "test/auroc_hi": 0.95, "val/best_auroc": 0.88})
    cell = {"task": "mi", "representation": "raw", "model": "cnn1d", "seed": 0, "primary": "auroc"}
    other = {**cell, "seed": 1}  # a second run: its p-value joins the table's Holm family
    runs = pd.DataFrame([{**cell, **{f"metrics.{k}": v for k, v in metrics.items()}},
                         {**other, **{f"metrics.{k}": v for k, v in metrics.items()}, "metrics.independent/p": 0.02}])
    rs = RunSet("e", "uri", runs=runs, cells=pd.DataFrame([{**c, "status": "FINISHED", "reason": ""}
                                                           for c in (cell, other)]))
    (table,) = clinical_tables(rs)
    p0 = metrics["independent/p"]
    assert p0 < 0.01  # Holm over two: the smaller p doubled, the larger kept (it is above the doubled one)
    assert table.data["independent/p_holm"].tolist() == pytest.approx([2 * p0, 0.02])
    assert "Holm-adjusted over the 2 p-values" in " ".join(table.notes)
    row = table.display.iloc[0]
    assert row["ECG"] == "0.900 [0.800, 0.950]"
    assert row["Clinical"].startswith(f"{metrics['clinical/auroc']:.3f} [")
    assert row["Δ combined − clinical"].startswith(f"{metrics['diff/combined_vs_clinical/auroc']:+.3f}")
    assert table.data.loc[0, "independent/or_per_sd"] == metrics["independent/or_per_sd"]
    paths = forest_plots(rs, tmp_path)
    assert [p.name for p in paths] == ["forest_mi.png", "forest_mi.pdf"] and all(p.stat().st_size for p in paths)


def test_a_subgroup_without_incident_rows_reads_nan_not_an_error(small):
    """Small subgroups (and their resamples) can hold no incident-AF row: survival metrics are then undefined."""
    records, oracle, _ = small
    task = TASKS.get("af_survival")()
    r = records[task.select(records)].reset_index(drop=True)
    s = ecg_truth(task, oracle[task.select(records)]).reset_index(drop=True)
    r["site"] = np.where(r["prevalent_af"] == 1, "prevalent_only", "mixed")
    m = subgroup_metrics(task, r, s, ["site"], n_boot=10)
    assert np.isnan(m["subgroup/site:prevalent_only/c_index"]) and np.isnan(m["subgroup/site:prevalent_only/uno_c"])
    assert m["subgroup/site:prevalent_only/positives"] == 0 and m["subgroup/site:mixed/c_index"] > 0.6


def test_a_task_without_a_clinical_outcome_model_is_skipped_with_its_reason():
    """PTB-XL's five superclasses (multi-label) have no clinical model: the layer says so in the run's artifacts and
    logs no clinical metric, and the ECG model's cell goes on (it used to fail every ptbxl_super cell)."""
    from tasks.ptbxl_super import COLUMNS

    rng = np.random.default_rng(3)
    n = 120
    y = (rng.random((n, len(COLUMNS))) < 0.3).astype(float)
    y[y.sum(axis=1) == 0, 0] = 1.0
    records = pd.DataFrame({"ecg_id": [f"e{i}" for i in range(n)], "patient_id": [f"p{i}" for i in range(n)],
                            "age": rng.normal(60, 12, n), "sex": rng.integers(0, 2, n).astype(float),
                            **{c: y[:, j] for j, c in enumerate(COLUMNS)}})
    task = TASKS.get("ptbxl_super")()
    scores = pd.DataFrame({c: rng.random(n) for c in task.risk_columns})
    parts = [records.iloc[:60], records.iloc[60:90], records.iloc[90:]]
    metrics, artifacts = clinical_evaluation(task, parts[0], parts[1], scores.iloc[60:90], parts[2],
                                             scores.iloc[90:], n_boot=10)
    assert not any(k.startswith(("clinical/", "combined/", "independent/")) for k in metrics)
    (reason,) = artifacts["clinical_skipped"]["reason"]
    assert reason.startswith("task 'ptbxl_super': no clinical outcome model for a PTBXLSuperclasses task")
