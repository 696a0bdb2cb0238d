"""The runner's stages: a split's parts stay aligned with the cohort, and a cell logs the metrics, tags and
artifacts that tests, tables and users rely on (the names are the contract)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.base.cohort import load_cohort
from bench.harness.driver import run_grid
from bench.harness.grid import load_grid
from bench.harness.splits import PARTS, patient_split
from bench.harness.tracking import client_for, default_tracking_uri
from tasks import TASKS

from _grids import grid_toml  # noqa: E402 - tests/ is on sys.path under pytest

GRID = grid_toml("stages", "synthetic:60,seed=3", gradcam_ecgs=1, tasks=["mi"], representations=["raw"],
                 models=["cnn1d"])

BINARY = ("accuracy", "auprc", "auroc", "brier", "calib_intercept", "calib_slope", "ece")
EXPECTED_METRICS = {
    "compute/flops_per_ecg", "compute/infer_ms_per_ecg", "compute/infer_s", "compute/overhead_s", "compute/params",
    "compute/repr_build_s",
    "compute/peak_rss_mb",
    "compute/input_values_per_ecg",
    "compute/repr_bytes_per_ecg", "compute/repr_ms_per_ecg", "compute/threads", "compute/train_s",
    "data/n_in", "data/n_quarantined", "data/n_task", "data/n_test", "data/n_test_patients", "data/n_train",
    "data/n_train_patients", "data/n_test_patients_in_train", "data/n_val", "train/best_epoch", "train/epochs_run", "train/loss", "train/lr", "val/loss", "val/best_auroc",
    *(f"val/{m}" for m in BINARY), *(f"test/{m}{b}" for m in (*BINARY, "ece_vs_oracle") for b in ("", "_lo", "_hi")),
}
CLINICAL_FAMILIES = ("clinical/", "combined/", "diff/", "independent/")
EXPECTED_TAGS = {"cell_key", "grid", "mlflow.runName", "model", "representation", "seed", "source", "split",
                 "split_kind", "status_reason", "task", "bench_version", "code_dirty"}
EXPECTED_ARTIFACTS = {"bootstrap_metrics.csv", "bootstrap_resamples.csv", "config.json", "metric_info.csv",
                      "predictions.csv", "quarantine.csv", "split.json"}


def test_split_parts_stay_aligned_with_the_cohort(tmp_path):
    cohort = load_cohort("synthetic:60,seed=3", cache_dir=tmp_path)
    task = TASKS.get("mi")()
    sub = np.flatnonzero(np.asarray(task.select(cohort.records), bool))
    records = cohort.records.iloc[sub].reset_index(drop=True)
    parts = patient_split(records, val=0.2, test=0.3, seed=0).parts(records, sub, task.encode(records))
    assert sum(len(p) for p in parts.values()) == len(sub)
    for name in PARTS:
        p = parts[name]
        assert p.name == name and list(p.records.index) == list(range(len(p)))
        # rows index the cohort (and its cached features): the same ECGs as the part's records
        assert list(cohort.records["ecg_id"].iloc[p.rows]) == list(p.records["ecg_id"])
        assert np.array_equal(p.targets["mi"], task.encode(p.records)["mi"])
    patients = [set(parts[k].records["patient_id"]) for k in PARTS]
    assert not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])


@pytest.mark.slow
def test_cell_logs_every_metric_tag_and_artifact_name(tmp_path):
    grid_path = tmp_path / "grid.toml"
    grid_path.write_text(GRID)
    results = tmp_path / "results"
    uri = default_tracking_uri(results)
    assert run_grid(load_grid(str(grid_path)), tracking_uri=uri, results_dir=results, cache_dir=tmp_path / "cache",
                    progress=False, out=io.StringIO()) == 0
    client = client_for(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("repbench-stages").experiment_id])
    oracle = {k for k in run.data.metrics if k.startswith(("oracle/", "oracle_waveform/"))}
    clinical = {k for k in run.data.metrics if k.startswith(CLINICAL_FAMILIES)}
    assert set(run.data.metrics) - oracle - clinical == EXPECTED_METRICS
    assert {"oracle/auroc", "oracle/auroc_lo", "oracle/auroc_hi"} <= oracle
    assert {"oracle_waveform/auroc", "oracle_waveform/auroc_lo", "oracle_waveform/auroc_hi"} <= oracle
    assert {k for k in run.data.tags if not k.startswith("mlflow.") or k == "mlflow.runName"} == EXPECTED_TAGS
    assert run.data.tags["mlflow.source.git.commit"]  # the commit that trained it ('unknown' outside git)
    assert run.data.tags["split"] == "patient" and run.data.tags["split_kind"] == "patient"
    assert run.data.metrics["data/n_test_patients_in_train"] == 0
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    # the simulated cohort carries clinical covariates: the clinical layer ran, or says why it could not
    if "clinical_skipped.csv" in top:
        assert not clinical
        top -= {"clinical_skipped.csv"}
    else:
        assert {"clinical/auroc", "combined/auroc", "diff/combined_vs_ecg/auroc"} <= clinical
        top -= {"clinical_predictions.csv", "clinical_coefficients.csv"}
    assert top == EXPECTED_ARTIFACTS | {"gradcam"}
    # the ECGs the report explains with Grad-CAM (bench/harness/gradcam.py); the maps are not made in the cell
    assert [a.path for a in client.list_artifacts(run.info.run_id, "gradcam")] == ["gradcam/ecgs.npz"]
    m = run.data.metrics
    split = json.loads(Path(client.download_artifacts(run.info.run_id, "split.json", str(tmp_path))).read_text())
    pred = pd.read_csv(client.download_artifacts(run.info.run_id, "predictions.csv", str(tmp_path)),
                       dtype={"ecg_id": str})
    assert [len(split[k]) for k in PARTS] == [m["data/n_train"], m["data/n_val"], m["data/n_test"]]
    assert list(pred["ecg_id"]) == split["test"]
    # both oracles ride with the predictions: the full one and the reader blind to the fQRS notch (resolution sweep)
    assert {"oracle_score", "fqrs_blind_oracle_score"} <= set(pred.columns)
    assert m["compute/input_values_per_ecg"] == 12 * 5000
    assert m["data/n_train"] + m["data/n_val"] + m["data/n_test"] == m["data/n_task"]
