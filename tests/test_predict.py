"""`python -m bench predict`: a trained cell's model on new ECG files, read and standardised as in training."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main as cli_main
from bench.harness.tracking import client_for
from tasks._survival_encoding import N_INTERVALS
from test_model_store import finished_runs, stored_predictions, trained  # noqa: F401 - session fixture


def _run_id(uri: str, label: str) -> str:
    _, _, runs = finished_runs(uri)
    return next(r.info.run_id for r in runs if r.info.run_name == label)


def _predict(capsys, *args) -> tuple[int, str, str]:
    status = cli_main(["predict", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("label", ["mi/raw/cnn1d/s0", "af_survival/dwt_pca/mlp/s0"])
def test_predict_on_the_runs_own_test_files_reproduces_its_predictions(trained, label, tmp_path, capsys):
    client = client_for(trained["uri"])
    run_id = _run_id(trained["uri"], label)
    stored = stored_predictions(client, run_id, tmp_path)
    folder = next((trained["cache"] / "synthetic").glob("*/labels.csv")).parent
    out = tmp_path / "scores.csv"
    status, _, err = _predict(capsys, "--results", trained["results"], "--run", run_id,
                              *[folder / f for f in stored["file"]], "--out", out)
    assert status == 0, err
    scores = pd.read_csv(out, dtype={"ecg_id": str})
    assert (scores["status"] == "scored").all() and len(scores) == len(stored)
    assert scores["ecg_id"].tolist() == stored["ecg_id"].tolist()
    score_cols = [c for c in stored.columns if c.startswith("score_")]
    np.testing.assert_allclose(scores[[c[len("score_"):] for c in score_cols]].to_numpy(float),
                               stored[score_cols].to_numpy(float), rtol=1e-5, atol=1e-6)


def test_predict_scores_every_readable_vendor_export_and_lists_the_rest(trained, shared_data, tmp_path, capsys):
    from bench.commands.inspect import describe

    formats = shared_data / "formats"
    out = tmp_path / "vendor.csv"
    status, _, err = _predict(capsys, "--results", trained["results"], "--run",
                              _run_id(trained["uri"], "mi/dwt_pca/mlp/s0"), formats, "--out", out)
    table = pd.read_csv(out, keep_default_na=False)
    files = sorted(str(p) for p in formats.rglob("*") if p.is_file())
    assert sorted(table["file"]) == files  # every file has a row
    readable = {f for f in files if "error" not in describe(f)}
    assert readable and set(table.loc[table["status"] == "scored", "file"]) == readable
    assert status == 0
    for _, row in table.iterrows():
        if row["status"] == "scored":
            assert 0.0 < float(row["score"]) < 1.0 and row["reason"] == ""
        else:
            assert row["score"] == "" and row["reason"]
            assert row["file"] in err  # unreadable files are listed on stderr too
    assert f"{len(readable)} of {len(files)} file(s) scored" in err


def test_predict_runs_end_to_end_on_a_real_ptbxl_ecg(trained, shared_data, tmp_path, capsys):
    """A 100 Hz PTB-XL record: resampled to 500 Hz as in training, scored by the survival model."""
    record = shared_data / "real" / "ptbxl" / "00001_lr.hea"
    if not record.is_file():
        pytest.skip(f"{record} is absent")
    out = tmp_path / "ptbxl.csv"
    status, _, err = _predict(capsys, "--results", trained["results"], "--run",
                              _run_id(trained["uri"], "af_survival/raw/cnn1d/s0"), record, "--out", out)
    assert status == 0, err
    row = pd.read_csv(out).iloc[0]
    assert row["status"] == "scored" and row["ecg_id"] == "00001_lr"
    surv = row[[f"surv_{k:02d}" for k in range(N_INTERVALS)]].to_numpy(float)
    assert np.all(np.diff(surv) <= 0) and 0.0 < surv[-1] <= surv[0] < 1.0  # a survival curve
    assert math.isclose(row["risk_5y"], 1.0 - surv[-1] / surv[0], rel_tol=1e-9)  # incident: S_25 / S_0


def test_best_picks_the_validation_metric_among_finished_runs_with_a_model(tmp_path):
    """Runs ranked one way on validation and the other way on test: the choice follows validation; a failed
    run, a run without a model and another task's run are never chosen."""
    from bench.harness.model_store import best_run
    from bench.harness.tracking import default_tracking_uri

    client = client_for(default_tracking_uri(tmp_path))
    exp = client.create_experiment("repbench-best", artifact_location=(tmp_path / "mlruns").as_uri())
    plan = [  # (name, task tag, task name, val, test, status, has model)
        ("a", "mi", "mi", 0.70, 0.95, "FINISHED", True),
        ("b", "mi", "mi", 0.80, 0.60, "FINISHED", True),
        ("c", "mi", "mi", 0.90, 0.99, "FINISHED", False),
        ("d", "mi", "mi", 0.95, 0.99, "FAILED", True),
        ("e", "lvef", "lvef", 0.99, 0.99, "FINISHED", True),
    ]
    ids = {}
    for name, tag, task, val, test, run_status, has_model in plan:
        run = client.create_run(exp, run_name=name, tags={"task": tag})
        rid = ids[name] = run.info.run_id
        client.log_metric(rid, "val/best_auroc", val)
        client.log_metric(rid, "test/auroc", test)
        if has_model:
            m = client.create_logged_model(exp, name="model", source_run_id=rid, params={"task_name": task})
            client.finalize_logged_model(m.model_id, "READY")
        client.set_terminated(rid, run_status)
    assert best_run(client, "repbench-best", "mi") == (ids["b"], "val/best_auroc", 0.80)
    assert best_run(client, "repbench-best", "lvef")[0] == ids["e"]


def test_best_on_the_trained_grid_scores_with_the_chosen_run(trained, shared_data, tmp_path, capsys):
    from bench.harness.model_store import best_run

    client = client_for(trained["uri"])
    record = shared_data / "formats" / "muse_xml" / "muse_ecg1.xml"
    run_id, metric, _ = best_run(client, "repbench-store", "af_survival")  # tested on planted runs above
    status, out_best, err = _predict(capsys, "--results", trained["results"], "--best", "--experiment",
                                     "repbench-store", "--task", "af_survival", record)
    assert status == 0 and run_id in err and metric in err
    status, out_run, _ = _predict(capsys, "--results", trained["results"], "--run", run_id, record)
    assert out_best == out_run


def test_predict_names_a_missing_run_or_option_in_one_line(trained, capsys):
    status, _, err = _predict(capsys, "--results", trained["results"], "--run", "0123456789abcdef", "x.xml")
    assert status == 2 and err.count("\n") == 1 and "run 0123456789abcdef: not found" in err
    status, _, err = _predict(capsys, "--results", trained["results"], "--best", "--task", "mi", "x.xml")
    assert status == 2 and "--best needs --experiment NAME and --task T" in err
