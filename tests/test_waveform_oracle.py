"""The waveform oracle (bench/data/simulator/waveform_oracle.py): the simulator's truth given only what the ECG shows.

Checked on simulated cohorts (planned in memory; no waveform is needed for the oracle): the posterior over age
follows the true age; averaged over patients the waveform oracle equals the full oracle (E[p_full | markers] =
p_waveform); it ranks below the full oracle (it does not know age and sex) and well above chance; and a run on
`synthetic:` logs `oracle_waveform/<metric>` and keeps its scores in the predictions, apart from the full oracle's.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from bench.base.labels import labels_to_records
from bench.base.metrics import evaluate_calls
from bench.data.simulator import SimConfig
from bench.data.simulator.generate import plan_cohort, public_labels
from bench.data.simulator.population import draw_markers, draw_patients
from bench.data.simulator.waveform_oracle import age_sex_posterior, marker_log_likelihood
from bench.harness.evaluation import oracle_part
from bench.report.paired import ORACLE, WAVEFORM_ORACLE, split_predictions
from tasks import TASKS

from _grids import lvef_grid  # noqa: E402 - tests/ is on sys.path under pytest


@pytest.fixture(scope="module")
def cohort():
    """(records, plan, oracle) of 2,000 simulated patients (about 4,000 ECGs), planned without waveforms."""
    plan, oracle = plan_cohort(2000, 11)
    return labels_to_records(public_labels(plan), where="plan"), plan, oracle


def test_posterior_over_age_and_sex_follows_the_truth():
    cfg = SimConfig()
    traits = draw_patients(np.random.default_rng(5), 3000, cfg)
    age, male, post = age_sex_posterior(traits, cfg)
    assert np.allclose(post.sum(axis=1), 1.0)
    mean_age = post @ age
    r = np.corrcoef(mean_age, traits["age0"])[0, 1]
    assert 0.3 < r < 0.9  # the markers carry some age, far from all of it
    p_male = post @ male
    sex = traits["sex"].to_numpy() == 1
    assert p_male[sex].mean() > p_male[~sex].mean() + 0.2  # QRS voltage, width and QTc show sex
    # the posterior is calibrated: its mean P(male) matches the share of men, and within each fifth of posterior
    # mean age the true ages average to the posterior mean (a wrong likelihood factor would shift them)
    assert abs(p_male.mean() - sex.mean()) < 4 * np.sqrt(0.25 / len(sex))
    fifth = np.digitize(mean_age, np.quantile(mean_age, [0.2, 0.4, 0.6, 0.8]))
    for b in range(5):
        d = traits["age0"].to_numpy()[fifth == b] - mean_age[fifth == b]
        assert abs(d.mean()) < 4 * d.std() / np.sqrt(len(d)), (b, d.mean())


@pytest.mark.parametrize("age0, male0", [(60.0, 1), (75.0, 0)])
def test_marker_likelihood_is_the_simulators_density(age0, male0):
    """For markers drawn at (age0, sex0), the likelihood ratio p(m | a, s) / p(m | age0, sex0) averages to 1 for
    every (a, s) (it integrates p(m | a, s)): true only if every age- and sex-dependent factor, clip mass and point
    mass of `draw_markers` is written right (a PR age slope of 8 instead of 4 ms / 10 y fails by > 10 SE)."""
    cfg, n = SimConfig(), 40000
    markers = draw_markers(np.random.default_rng(3), np.full(n, age0), np.full(n, male0), cfg)
    ages = np.array([age0, 40.0, 50.0, 70.0, 85.0, age0])
    males = np.array([male0, male0, 1 - male0, male0, 1 - male0, 1 - male0])
    ll = marker_log_likelihood(markers, ages, males, cfg)
    ratio = np.exp(ll[:, 1:] - ll[:, [0]])
    se = ratio.std(axis=0) / np.sqrt(n)
    assert (np.abs(ratio.mean(axis=0) - 1.0) < 4 * se).all(), (ratio.mean(axis=0), se)


def _clustered_mean_and_se(d: pd.Series, patients: pd.Series) -> tuple[float, float]:
    per_patient = d.groupby(patients.to_numpy()).sum()
    return float(d.mean()), float(per_patient.std() * np.sqrt(len(per_patient)) / len(d))


def test_waveform_oracle_averages_to_the_full_oracle(cohort):
    """E[p_full | markers, rhythm] = p_waveform, so over the cohort the two means agree (within 4 patient-clustered
    standard errors), for LVEF, MI and AF-free survival at the first and the last interval of sinus ECGs."""
    _, plan, oracle = cohort
    sinus = plan["af_rhythm"].to_numpy() == 0
    surv = sorted(c for c in oracle.columns if c.startswith("oracle_surv_"))
    pairs = [("oracle_p_lvef", np.ones(len(plan), bool)), ("oracle_p_mi", np.ones(len(plan), bool)),
             (surv[0], sinus), (surv[-1], sinus)]
    for col, rows in pairs:
        wave = col.replace("oracle_", "oracle_waveform_", 1)
        assert wave in oracle.columns
        d = (oracle[col] - oracle[wave])[rows]
        mean, se = _clustered_mean_and_se(d, plan["patient_id"][rows])
        assert abs(mean) < 4 * se, (col, mean, se)
        assert d.abs().max() > 10 * se  # the two do differ per ECG: age and sex matter
    assert (oracle.filter(like="oracle_waveform_surv_")[~sinus] == 0).all().all()  # an AF strip: AF now


def _metric(task_name: str, records: pd.DataFrame, oracle: pd.DataFrame, part: str | None) -> float:
    """The task's primary metric of the full oracle (`part` None) or of a partial one (`waveform`), every ECG once."""
    task = TASKS.get(task_name)()
    keep = np.asarray(task.select(records), dtype=bool)
    view = oracle[keep].reset_index(drop=True)
    scores = pd.DataFrame(task.oracle_scores(view if part is None else oracle_part(view, part)))
    call = task.primary_call(records[keep].reset_index(drop=True), scores)
    return float(evaluate_calls([call], None)[call.key])


def test_waveform_oracle_ranks_below_the_full_oracle(cohort):
    records, _, oracle = cohort
    for task, tol in (("lvef", 0.005), ("mi", 0.005)):
        full, wave = _metric(task, records, oracle, None), _metric(task, records, oracle, "waveform")
        assert 0.75 < wave <= full + tol, (task, wave, full)
    full, wave = (_metric("af_survival", records, oracle, w) for w in (None, "waveform"))
    assert 0.5 < wave < full, (wave, full)  # age drives the AF hazard; the waveform shows little of it


def test_split_predictions_keeps_the_two_oracles_apart():
    pred = pd.DataFrame({"ecg_id": ["a"], "mi": [1], "score_score": [0.2], "oracle_score": [0.9],
                         "oracle_waveform_score": [0.6]})
    records, full = split_predictions(pred, ORACLE)
    _, wave = split_predictions(pred, WAVEFORM_ORACLE)
    assert list(records.columns) == ["ecg_id", "mi"]
    assert full.to_dict("list") == {"score": [0.9]} and wave.to_dict("list") == {"score": [0.6]}


@pytest.mark.slow
def test_a_simulated_run_logs_the_waveform_oracle(tmp_path):
    from bench.harness.driver import run_grid
    from bench.harness.grid import load_grid
    from bench.harness.tracking import client_for, default_tracking_uri

    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(lvef_grid("waveform", epochs=1, n_boot=20, gradcam_ecgs=0, models=("mlp",))
                         .replace('[[representations]]\nname = "raw"\n', ""))
    results = tmp_path / "results"
    uri = default_tracking_uri(results)
    assert run_grid(load_grid(str(grid_file)), tracking_uri=uri, results_dir=results, cache_dir=tmp_path / "cache",
                    progress=False, out=io.StringIO()) == 0
    client = client_for(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("repbench-waveform").experiment_id])
    m = run.data.metrics
    for key in ("oracle_waveform/auroc", "oracle_waveform/auroc_lo", "oracle_waveform/auroc_hi", "oracle/auroc"):
        assert np.isfinite(m[key]), key
    pred = pd.read_csv(client.download_artifacts(run.info.run_id, "predictions.csv", str(tmp_path)))
    assert {"oracle_score", "oracle_waveform_score", "score_score"} <= set(pred.columns)
    assert run.info.status == "FINISHED"
