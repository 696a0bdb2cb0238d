"""Patient-grouped K-fold cells: folds split by patient and cover every ECG once, the published PTB-XL folds are
used as given, each fold is a cell, and the tables pool the folds' out-of-fold predictions."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.base.cohort import load_cohort
from bench.base.errors import GridError
from bench.harness.driver import run_grid
from bench.harness.evaluation import evaluate_with_ci
from bench.harness.grid import load_grid
from bench.harness.splits import PARTS, fold_split
from bench.harness.tracking import client_for, default_tracking_uri
from tasks import TASKS

from _grids import grid_toml  # noqa: E402 - tests/ is on sys.path under pytest

GRID = grid_toml("folds", "synthetic:60,seed=3", test=None, split={"folds": 3}, n_boot=30, tasks=["mi"],
                 representations=["raw"], models=["cnn1d"])


def _grid(tmp_path: Path, text: str = GRID):
    p = tmp_path / "grid.toml"
    p.write_text(text)
    return load_grid(str(p))


@pytest.fixture(scope="module")
def mi_records(tmp_path_factory):
    cohort = load_cohort("synthetic:60,seed=3", cache_dir=tmp_path_factory.mktemp("cache"))
    task = TASKS.get("mi")()
    return cohort.records[np.asarray(task.select(cohort.records), bool)].reset_index(drop=True), task


def test_folds_are_patient_disjoint_and_cover_every_ecg_once(mi_records):
    records, task = mi_records
    y = task.encode(records)["mi"]
    pids = records["patient_id"].astype(str).to_numpy()
    assert len(set(pids)) < len(pids)  # some patients have several ECGs: grouping matters
    seen = np.zeros(len(records), int)
    test_patients = []
    for k in (1, 2, 3):
        sp = fold_split(records, k, folds=3, val=0.2, seed=0, stratify=y)
        seen[sp.test] += 1
        sets = {p: set(pids[getattr(sp, p)]) for p in PARTS}
        assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
        assert sorted(np.r_[sp.train, sp.val, sp.test]) == list(range(len(records)))
        assert set(y[sp.test]) == {0.0, 1.0}  # stratified: both classes in every test fold
        test_patients.append(sets["test"])
    assert (seen == 1).all()
    assert not (test_patients[0] & test_patients[1] or test_patients[0] & test_patients[2]
                or test_patients[1] & test_patients[2])
    again = fold_split(records, 2, folds=3, val=0.2, seed=0, stratify=y)
    assert np.array_equal(again.test, fold_split(records, 2, folds=3, val=0.2, seed=0, stratify=y).test)
    assert not np.array_equal(again.test, fold_split(records, 2, folds=3, val=0.2, seed=1, stratify=y).test)


def test_published_ptbxl_folds_are_used_as_given(shared_data):
    db = shared_data / "real" / "ptbxl_subset" / "ptbxl_database.csv"
    if not db.is_file():
        pytest.skip(f"PTB-XL subset not found under {shared_data / 'real'}")
    raw = pd.read_csv(db)
    records = pd.DataFrame({"ecg_id": raw["ecg_id"].astype(str),
                            "patient_id": raw["patient_id"].map(lambda v: str(int(float(v)))),
                            "strat_fold": raw["strat_fold"].astype(int)})
    seen = np.zeros(len(records), int)
    for k in range(1, 11):
        sp = fold_split(records, k, folds=10, val=0.1, seed=0, fold_column="strat_fold")
        assert set(sp.test) == set(np.flatnonzero(records["strat_fold"].to_numpy() == k))
        assert k not in set(records["strat_fold"].iloc[np.r_[sp.train, sp.val]])
        seen[sp.test] += 1
    assert (seen == 1).all()


def test_grid_expands_one_cell_per_fold(tmp_path):
    cells, _ = _grid(tmp_path).expand()
    assert [c.fold for c in cells] == [1, 2, 3]
    assert [c.label for c in cells] == [f"mi/raw/cnn1d/s0/f{k}" for k in (1, 2, 3)]
    assert len({c.key("fp") for c in cells}) == 3 and all(c.config()["fold"] == c.fold for c in cells)
    single, _ = _grid(tmp_path, GRID.replace("folds = 3\n", "")).expand()
    assert [c.fold for c in single] == [0] and "fold" not in single[0].config()  # old cell keys unchanged
    with pytest.raises(GridError, match="split.folds = 1: must be >= 2"):
        _grid(tmp_path, GRID.replace("folds = 3", "folds = 1"))


@pytest.mark.slow
def test_fold_cells_run_and_tables_pool_their_predictions(tmp_path):
    from bench.report.paired import ORACLE, WAVEFORM_ORACLE, split_predictions
    from bench.report.runs import load_runs
    from bench.report.tables import build_tables

    grid = _grid(tmp_path)
    results = tmp_path / "results"
    uri = default_tracking_uri(results)
    assert run_grid(grid, tracking_uri=uri, results_dir=results, cache_dir=tmp_path / "cache", progress=False,
                    out=io.StringIO()) == 0
    client = client_for(uri)
    runs = client.search_runs([client.get_experiment_by_name("repbench-folds").experiment_id])
    assert sorted(r.data.tags["fold"] for r in runs) == ["1", "2", "3"]
    assert {r.data.tags["split"] for r in runs} == {"patient-kfold"}
    preds = [pd.read_csv(client.download_artifacts(r.info.run_id, "predictions.csv", str(tmp_path / r.info.run_id)),
                         dtype={"ecg_id": str, "patient_id": str}) for r in runs]
    pooled = pd.concat(preds, ignore_index=True)
    assert not pooled["ecg_id"].duplicated().any()
    assert sum(r.data.metrics["data/n_test"] for r in runs) == runs[0].data.metrics["data/n_task"] == len(pooled)

    rs = load_runs(uri, "repbench-folds")
    assert len(rs.runs) == 1 and len(rs.cells) == 1 and rs.cells["status"].iloc[0] == "FINISHED"
    row = rs.runs.iloc[0]
    assert sorted(row["run_ids"]) == sorted(r.info.run_id for r in runs)
    task = TASKS.get("mi")()
    records, scores = split_predictions(pooled)
    direct, _ = evaluate_with_ci(task, records, scores, oracle_scores=split_predictions(pooled, ORACLE)[1],
                                 n_boot=30, seed=0,
                                 other_oracles={"oracle_waveform": split_predictions(pooled, WAVEFORM_ORACLE)[1]})
    for k in ("test/auroc", "test/auroc_lo", "test/auroc_hi", "test/brier", "oracle/auroc", "oracle_waveform/auroc"):
        assert row[f"metrics.{k}"] == pytest.approx(direct[k]), k
    assert row["metrics.data/n_test_patients"] == records["patient_id"].nunique()
    # what comparisons choose models on: the seed's validation value is the mean over the folds that logged one (a
    # fold whose validation patients hold one class has none)
    val = [r.data.metrics["val/best_auroc"] for r in runs if "val/best_auroc" in r.data.metrics]
    assert row.get("metrics.val/best_auroc", np.nan) == pytest.approx(np.mean(val) if val else np.nan, nan_ok=True)
    _, tables = build_tables(rs, n_boot=30)
    board = next(t for t in tables if t.name == "leaderboard_mi").data
    assert board["test/auroc"].iloc[0] == pytest.approx(direct["test/auroc"]) and board["n_seeds"].iloc[0] == 1

    # a seed with a fold missing is missing in the tables, and says how many folds finished
    client.delete_run(runs[0].info.run_id)
    rs = load_runs(uri, "repbench-folds", grid=grid.path)
    assert rs.runs.empty and rs.cells["status"].iloc[0] == "missing"
    assert rs.cells["reason"].iloc[0].startswith("2/3 folds finished")


def test_published_folds_must_be_the_grids_folds(mi_records):
    records, _ = mi_records
    patient_number = np.unique(records["patient_id"], return_inverse=True)[1]
    records = records.assign(site_fold=patient_number % 4 + 1)  # folds by patient, as published folds are
    assert len(fold_split(records, 4, folds=4, fold_column="site_fold").test) == (records["site_fold"] == 4).sum()
    with pytest.raises(GridError, match=r"fold_column 'site_fold' with folds = 3: values \[4\] are not folds 1..3"):
        fold_split(records, 1, folds=3, fold_column="site_fold")
