"""A combination that can beat both, on a cohort where the answer is planted.

`af_marker_scale` raises the ECG markers' share of incident AF risk (every oracle that reads the incident hazard
follows it) and leaves prevalent AF, so (nearly all) first ECGs' strips and waveforms, as they were. `CombinedRisk` stacks
the ECG score with the clinical model's linear predictor: 2 coefficients fitted on the validation split. The "ECG
model" is an oracle (the waveform oracle: what the strip alone shows; or the ECG-only truth, which also knows the
header's age and sex), so the assertions test the simulator and the clinical layer, not a network's training.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.base.labels import labels_to_records
from bench.data.simulator.config import SimConfig
from bench.data.simulator.covariates import draw_covariates
from bench.data.simulator.generate import plan_cohort, public_labels, render_batch
from bench.data.simulator.outcomes import af_risk_terms, lvsd_probability
from bench.data.simulator.population import draw_patients
from bench.harness.clinical import clinical_evaluation
from bench.harness.evaluation import oracle_part
from bench.harness.grid import builtin_grids, load_grid
from tasks.base import TASKS

N, SEED = 2000, 7


@pytest.fixture(scope="module")
def cohorts():
    """{scale: (config, plan, records, oracle)}: the same seed at af_marker_scale 1 and 2 (labels, no waveforms)."""
    out = {}
    for scale in (1.0, 2.0):
        cfg = SimConfig(charge_af=True, af_5y_incidence=0.15, af_marker_scale=scale)
        plan, oracle = plan_cohort(N, SEED, cfg)
        out[scale] = cfg, plan, labels_to_records(public_labels(plan)), oracle
    return out


def oracle_c_index(task, records: pd.DataFrame, oracle: pd.DataFrame, part: str) -> float:
    """Harrell C of an oracle (`part`: '' for the full one) on all of the task's ECGs."""
    sel = np.asarray(task.select(records), bool)
    o = oracle[sel].reset_index(drop=True)
    scores = pd.DataFrame(task.oracle_scores(oracle_part(o, part) if part else o))
    return task.evaluate(records[sel].reset_index(drop=True), scores)["c_index"]


def test_af_marker_scale_raises_what_the_ecg_shows_of_incident_af(cohorts):
    task = TASKS.get("af_survival")()
    c = {(scale, part): oracle_c_index(task, records, oracle, part)
         for scale, (_, _, records, oracle) in cohorts.items() for part in ("", "waveform", "ecg", "clinical")}
    assert c[2.0, "waveform"] > c[1.0, "waveform"] + 0.04
    assert c[2.0, "ecg"] > c[1.0, "ecg"] + 0.02
    assert c[2.0, ""] > c[1.0, ""] + 0.02
    # doubled, the waveform tells about as much as the covariates; at 1 it tells clearly less
    assert c[1.0, "waveform"] < c[1.0, "clinical"] - 0.05
    assert abs(c[2.0, "waveform"] - c[2.0, "clinical"]) < 0.03


def test_af_marker_scale_leaves_prevalent_af_and_first_ecg_waveforms_unchanged(cohorts):
    (cfg1, plan1, _, _), (cfg2, plan2, _, _) = cohorts[1.0], cohorts[2.0]
    render = [c for c in plan1.columns if c.startswith(("_r_", "marker_"))]
    pd.testing.assert_frame_equal(plan1[render], plan2[render])
    # AF before day 0 has the same probability per patient (drawn from the same stream: the same patients);
    # the incident hazard is what changes
    traits = draw_patients(np.random.default_rng(3), 500, cfg1)
    cov = draw_covariates(np.random.default_rng(4), traits, lvsd_probability(traits, cfg1))
    r1, r2 = af_risk_terms(traits, cov, cfg1), af_risk_terms(traits, cov, cfg2)
    np.testing.assert_array_equal(r1["p_af_prev"], r2["p_af_prev"])
    assert not np.allclose(r1["af_lin"], r2["af_lin"])
    # an ECG's AF status changes only where the new hazard moves an incident AF before it: nearly always a later
    # ECG (the first one comes hours after day 0)
    first = ~plan1["patient_id"].duplicated().to_numpy()
    moved = (plan1["prevalent_af"] != plan2["prevalent_af"]).to_numpy()
    assert moved[~first].any() and moved[first].mean() < 0.002
    # first ECGs with the same rhythm at both scales, AF strips among them, render identically
    same = first & (plan1["af_rhythm"] == plan2["af_rhythm"]).to_numpy()
    rows = np.flatnonzero(same)[np.argsort(-plan1["af_rhythm"].to_numpy()[same], kind="stable")][:8]
    assert plan1["af_rhythm"].iloc[rows].sum() >= 3
    _, a, _ = render_batch(plan1.iloc[rows], 0, SEED, cfg1)
    _, b, _ = render_batch(plan2.iloc[rows], 0, SEED, cfg2)
    np.testing.assert_array_equal(a, b)


def split_parts(task, records: pd.DataFrame, oracle: pd.DataFrame, ecg_part: str):
    """{split: (records, ECG scores)} of the task's rows, 60 / 15 / 25 % of patients; the ECG scores are the oracle
    part `ecg_part`'s."""
    k = records["patient_id"].str[-6:].astype(int).to_numpy() % 20
    sel = np.asarray(task.select(records), bool)
    scores = pd.DataFrame(task.oracle_scores(oracle_part(oracle, ecg_part)))
    return {s: (records[m & sel].reset_index(drop=True), scores[m & sel].reset_index(drop=True))
            for s, m in (("train", k < 12), ("val", (k >= 12) & (k < 15)), ("test", k >= 15))}


def combined_coefficients(artifacts) -> pd.Series:
    coef = artifacts["clinical_coefficients"]
    return coef[coef["model"] == "combined"].drop(columns=["model", "row"]).iloc[0].dropna()


@pytest.mark.parametrize("ecg_part", ["waveform", "ecg"])
def test_stacking_beats_the_clinical_model_where_the_ecg_carries_planted_af_risk(cohorts, ecg_part):
    _, _, records, oracle = cohorts[2.0]
    task = TASKS.get("af_survival")()
    parts = split_parts(task, records, oracle, ecg_part)
    metrics, artifacts = clinical_evaluation(task, parts["train"][0], *parts["val"], *parts["test"], n_boot=30)
    coef = combined_coefficients(artifacts)
    assert sorted(coef.index) == ["clinical_lp", "ecg"] and (coef > 0).all()
    assert metrics["diff/combined_vs_clinical/c_index_lo"] > 0
    if ecg_part == "waveform":  # what a network can reach: the combination beats it too, as planted
        assert metrics["diff/combined_vs_ecg/c_index"] > 0.005


@pytest.mark.parametrize("task_name", ["lvef", "mi"])
def test_stacking_a_binary_task_gives_two_coefficients_and_probabilities(cohorts, task_name):
    _, _, records, oracle = cohorts[2.0]
    task = TASKS.get(task_name)()
    parts = split_parts(task, records, oracle, "waveform")
    metrics, artifacts = clinical_evaluation(task, parts["train"][0], *parts["val"], *parts["test"], n_boot=10)
    assert sorted(combined_coefficients(artifacts).index) == ["clinical_lp", "ecg"]
    p = artifacts["clinical_predictions"]["combined_score"].to_numpy(float)
    assert len(p) == len(parts["test"][0]) and np.all((p >= 0) & (p <= 1))
    assert metrics["combined/auroc"] > metrics["clinical/auroc"]


def test_the_clinical_grid_is_built_in_and_plants_the_answer():
    assert "clinical" in builtin_grids()
    grid = load_grid("clinical")
    cells, _ = grid.expand()
    assert [c.label for c in cells] == [f"af_survival/raw/{m}/s0" for m in ("dilated_resnet1d", "resnet1d", "cnn1d")]
    assert "af_marker_scale=2" in grid.source and "charge_af=1" in grid.source
    assert grid.eval["subgroups"] == ["sex"]
