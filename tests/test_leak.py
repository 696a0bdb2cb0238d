"""The record-wise leak, measured: `record_wise_LEAKY = [false, true]` runs every cell under both splits (the scalar
form keeps its keys), runs count the test patients whose ECGs also trained the model, and a tiny run of the built-in
`leak` grid gives the `leak` table."""
from __future__ import annotations

import io
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.base.cohort import load_cohort
from bench.base.errors import GridError
from bench.harness.driver import run_grid
from bench.harness.grid import load_grid
from bench.harness.splits import record_wise_split_LEAKY
from bench.harness.tracking import client_for, default_tracking_uri

from _grids import HARNESS_DEFAULTS, grid_toml, shrunk_builtin_grid  # noqa: E402 - tests/ is on sys.path under pytest


def _cells(tmp_path: Path, split: str):
    """The cells of a one-pair MI grid whose [split] also holds the TOML lines `split`."""
    p = tmp_path / "lk.toml"
    p.write_text(grid_toml("lk", "synthetic:120,seed=1", **HARNESS_DEFAULTS, split=tomllib.loads(split),
                           tasks=["mi"], representations=["raw"], models=["cnn1d"]))
    return load_grid(str(p)).expand()[0]


def test_both_splits_are_cells_with_the_keys_of_the_scalar_form(tmp_path):
    patient, leaky = _cells(tmp_path, "record_wise_LEAKY = [false, true]")
    assert (patient.label, leaky.label) == ("mi/raw/cnn1d/s0", "mi/raw/cnn1d/s0/LEAKY")
    assert (patient.leaky, leaky.leaky) == (False, True)
    (scalar_false,) = _cells(tmp_path, "record_wise_LEAKY = false")
    (scalar_true,) = _cells(tmp_path, "record_wise_LEAKY = true")
    (absent,) = _cells(tmp_path, "")
    assert patient.key("fp") == scalar_false.key("fp") and leaky.key("fp") == scalar_true.key("fp")
    assert "record_wise_LEAKY" not in absent.config()["split"]  # grids without the key keep their cell keys


@pytest.mark.parametrize("split, message", [
    ("record_wise_LEAKY = [true, true]", "record_wise_LEAKY = [true, true]: lists a value twice"),
    ("record_wise_LEAKY = []", "split.record_wise_LEAKY: []: must be true, false or a list of them"),
    ("record_wise_LEAKY = \"yes\"", "split.record_wise_LEAKY = \"yes\": must be true, false"),
    ("record_wise_LEAKY = [false, true]\nfolds = 3", "the leak is measured on the single split; drop folds"),
])
def test_bad_leak_settings_are_refused(tmp_path, split, message):
    with pytest.raises(GridError) as e:
        _cells(tmp_path, split)
    assert message in str(e.value), str(e.value)


def tiny_leak_grid(tmp_path: Path) -> Path:
    """The built-in leak grid, shrunk: 120 patients, MI only, the raw/dilated_resnet1d pair, one seed and epoch."""
    return shrunk_builtin_grid(tmp_path, "leak", [
        ('source = "synthetic:1500,seed=1"', 'source = "synthetic:120,seed=1"'), ("seeds = [0, 1, 2]", "seeds = [0]"),
        ("epochs = 4", "epochs = 1"), ("num_threads = 2", "num_threads = 1"), ("n_boot = 200", "n_boot = 40"),
        ('[[tasks]]\nname = "lvef"\n', ""),
        ('[[representations]]\nname = "image"\nlabel = "image@128"\nparams = { width = 128 }\n', ""),
        ("gradcam_ecgs = 0", "gradcam_ecgs = 0\nlog_model = false\nclinical = false")])


@pytest.mark.slow
def test_tiny_leak_run_gives_the_leak_table(tmp_path):
    from bench.report import build_report

    grid = load_grid(str(tiny_leak_grid(tmp_path)))
    results, cache = tmp_path / "results", tmp_path / "cache"
    uri = default_tracking_uri(results)
    out = io.StringIO()
    assert run_grid(grid, tracking_uri=uri, results_dir=results, cache_dir=cache, progress=False, out=out) == 0, \
        out.getvalue()
    client = client_for(uri)
    runs = {r.data.tags["split_kind"]: r for r in
            client.search_runs([client.get_experiment_by_name("repbench-leak").experiment_id])}
    assert set(runs) == {"patient", "record_LEAKY"}
    assert runs["patient"].data.metrics["data/n_test_patients_in_train"] == 0
    # the leak the table reports is the record-wise split's own: recount it from the cohort
    records = load_cohort("synthetic:120,seed=1", cache_dir=cache).records
    split = record_wise_split_LEAKY(records, val=0.15, test=0.25, seed=0)
    pids = records["patient_id"].astype(str).to_numpy()
    leaked = len(set(pids[split.test]) & set(pids[split.train]))
    assert leaked > 0 and runs["record_LEAKY"].data.metrics["data/n_test_patients_in_train"] == leaked

    build_report(uri, "repbench-leak", tmp_path / "report", figures=False, n_boot=40)
    table = pd.read_csv(tmp_path / "report" / "tables" / "leak.csv")
    (row,) = table.itertuples()
    assert (row.task, row.representation, row.model, row.metric) == ("mi", "raw", "dilated_resnet1d", "auroc")
    assert row.patient == pytest.approx(runs["patient"].data.metrics["test/auroc"])
    assert row.record == pytest.approx(runs["record_LEAKY"].data.metrics["test/auroc"])
    assert row.diff == pytest.approx(row.record - row.patient, abs=1e-5)  # the CSV keeps 6 digits
    assert np.isfinite([row.diff_lo, row.diff_hi]).all() and row.diff_lo < row.diff_hi and row.n_boot > 30
    assert row.test_patients_in_train_record == leaked
    board = pd.read_csv(tmp_path / "report" / "tables" / "leaderboard_mi.csv")  # the main tables: patient-wise
    assert board["test/auroc"].iloc[0] == pytest.approx(row.patient, abs=1e-5)
    md = (tmp_path / "report" / "tables" / "leak.md").read_text()
    assert f"| {leaked} / " in md
    # "Trained at" counts the runs each table shows: both splits here, the patient-wise run in the leaderboard
    assert re.search(r"Trained at: [^(,]+ \(2 runs\)\.", md), md
    board_md = (tmp_path / "report" / "tables" / "leaderboard_mi.md").read_text()
    assert re.search(r"Trained at: [^(,]+ \(1 run\)\.", board_md), board_md
