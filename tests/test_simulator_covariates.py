"""Simulated clinical covariates: prevalences, their links to the ECG markers, the partial AF oracles, the labels
schema (`bench data synth` writes validated covariate columns) and the errors bad covariate values raise."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index

from bench.base.errors import CohortError
from bench.cli import main
from bench.data.simulator.covariates import COVARIATE_COLUMNS
from bench.data.simulator.config import SimConfig
from bench.data.simulator.generate import plan_cohort, public_labels
from bench.data.sources.folder import read_labels_csv
from bench.base.labels import labels_to_records


@pytest.fixture(scope="module")
def cohort():
    """Labels and oracle of 3,000 patients (no waveforms), first ECG per patient."""
    plan, oracle = plan_cohort(3000, seed=21, cfg=SimConfig(charge_af=True))
    records = labels_to_records(public_labels(plan))
    first = ~records["patient_id"].duplicated().to_numpy()
    return records[first].reset_index(drop=True), oracle[first].reset_index(drop=True)


def test_prevalences_match_the_charge_af_cohorts(cohort):
    r, _ = cohort
    assert 0.75 < (r["race"] == "white").mean() < 0.85
    for col, lo, hi in (("smoker", 0.10, 0.22), ("bp_meds", 0.25, 0.45), ("diabetes", 0.07, 0.17),
                        ("heart_failure", 0.015, 0.07), ("prior_mi", 0.05, 0.16)):
        assert lo < r[col].mean() < hi, col
    men, women = r[r["sex"] == 1], r[r["sex"] == 0]
    assert men["height_cm"].mean() - women["height_cm"].mean() > 10
    assert (r["dbp"] < r["sbp"]).all()


def test_covariates_are_linked_to_the_ecg_markers(cohort):
    r, _ = cohort
    assert np.corrcoef(r["sbp"], r["p_dur_ms"].fillna(r["p_dur_ms"].median()))[0, 1] > 0.15  # hypertension -> P
    assert np.corrcoef(r["sbp"], np.log(r["marker_qrs_gain"]))[0, 1] > 0.15  # hypertension -> LVH voltage
    assert r.loc[r["prior_mi"] == 1, "mi"].mean() > 3 * r.loc[r["prior_mi"] == 0, "mi"].mean()
    lvsd = r["lvef"] <= 40
    assert lvsd[r["heart_failure"] == 1].mean() > 3 * lvsd[r["heart_failure"] == 0].mean()


def test_partial_oracles_are_calibrated_and_the_full_oracle_beats_both(cohort):
    r, o = cohort
    inc = (r["prevalent_af"] != 1).to_numpy()
    t = np.minimum(r["af_time_days"], 1825)[inc]
    e = ((r["af_event"] == 1) & (r["af_time_days"] <= 1825))[inc]
    c = {name: concordance_index(t, (o[f"oracle{name}_surv_25"] / o[f"oracle{name}_surv_00"])[inc], e)
         for name in ("", "_clinical", "_ecg")}
    assert c[""] > c["_clinical"] > 0.7 and c[""] > c["_ecg"] > 0.7
    # averaging out the hidden half keeps the mean risk (law of total expectation), up to Monte Carlo error
    for part in ("_clinical", "_ecg"):
        assert abs(o[f"oracle{part}_surv_25"].mean() - o["oracle_surv_25"].mean()) < 0.01


def test_bench_data_synth_writes_validated_covariates(tmp_path):
    assert main(["data", "synth", "--out", str(tmp_path), "--patients", "3", "--seed", "2"]) == 0
    raw = read_labels_csv(tmp_path / "labels.csv")
    assert set(COVARIATE_COLUMNS) <= set(raw.columns)
    records = labels_to_records(raw, where="labels.csv")
    assert records[["height_cm", "weight_kg", "sbp", "dbp"]].notna().all().all()
    assert set(records["smoker"].unique()) <= {0.0, 1.0}
    oracle = pd.read_csv(tmp_path / "oracle.csv")
    assert {"oracle_clinical_surv_25", "oracle_ecg_surv_25"} <= set(oracle.columns)


def _labels(**cols) -> pd.DataFrame:
    base = {"file": ["a.hea", "b.hea"], "patient_id": ["p1", "p2"], "ecg_datetime": ["2020-01-01", "2020-02-01"]}
    return pd.DataFrame({**base, **cols}, dtype=str)


@pytest.mark.parametrize("cols, message", [
    ({"sbp": ["120", "900"]}, "column 'sbp' must be a number in [50, 300] (CSV lines 3)"),
    ({"sbp": ["120", "130"], "dbp": ["80", "135"]}, "column 'dbp' is not below sbp (CSV lines 3)"),
    ({"smoker": ["1", "2"]}, "column 'smoker' must be a number in [0, 1] (CSV lines 3)"),
    ({"diabetes": ["1", "0.5"]}, "column 'diabetes' must be 0 or 1 (CSV lines 3)"),
    ({"height_cm": ["tall", "170"]}, "column 'height_cm' must be a number in [50, 250] (CSV lines 2)"),
])
def test_bad_covariate_values_name_the_column_and_line(cols, message):
    with pytest.raises(CohortError) as err:
        labels_to_records(_labels(**cols), where="labels.csv")
    assert str(err.value) == f"labels.csv: {message}"


def test_race_is_read_as_lower_case_text_and_empty_is_missing():
    r = labels_to_records(_labels(race=[" White", ""]))
    assert r["race"].iloc[0] == "white" and pd.isna(r["race"].iloc[1])


def test_covariates_cause_incident_af_only_with_charge_af():
    """Default cohorts keep simulator 1.4's AF hazard (so committed reference runs stay valid); `charge_af=1` adds
    the CHARGE-AF terms."""
    from bench.data.simulator.covariates import draw_covariates
    from bench.data.simulator.outcomes import af_linear, lvsd_probability
    from bench.data.simulator.population import draw_patients

    cfg = SimConfig()
    traits = draw_patients(np.random.default_rng(3), 500, cfg)
    p_lvsd = lvsd_probability(traits, cfg)
    cov_a, cov_b = (draw_covariates(np.random.default_rng(s), traits, p_lvsd) for s in (10, 11))
    assert not cov_a.equals(cov_b)
    np.testing.assert_array_equal(af_linear(traits, cov_a, cfg), af_linear(traits, cov_b, cfg))
    on = SimConfig(charge_af=True)
    assert np.abs(af_linear(traits, cov_a, on) - af_linear(traits, cov_b, on)).mean() > 0.1
