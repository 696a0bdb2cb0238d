"""Learning curves: `[split] train_sizes` expands each cell into one per size (keys of other grids unchanged, sizes
that cannot fit refused), trains on nested subsets of the training patients on the same validation and test
patients, and a tiny run of the built-in `curves` grid gives the `learning_curve` table and figure."""
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
from bench.harness.splits import PARTS, patient_split, train_subset
from bench.harness.tracking import client_for, default_tracking_uri
from tasks import TASKS

from _grids import HARNESS_DEFAULTS, grid_toml, shrunk_builtin_grid  # noqa: E402 - tests/ is on sys.path under pytest


def _load(tmp_path: Path, split: str = ""):
    """A one-pair MI grid on two seeds whose [split] also holds the TOML lines `split`."""
    p = tmp_path / "lc.toml"
    p.write_text(grid_toml("lc", "synthetic:120,seed=1", seeds=[0, 1], **HARNESS_DEFAULTS, split=tomllib.loads(split),
                           tasks=["mi"], representations=["raw"], models=["cnn1d"]))
    return load_grid(str(p))


def test_each_size_is_a_cell_and_other_grids_keep_their_keys(tmp_path):
    plain = _load(tmp_path).expand()[0]
    curve = _load(tmp_path, "train_sizes = [40, 20]").expand()[0]
    assert [(c.seed, c.train_size) for c in curve] == [(0, 20), (0, 40), (1, 20), (1, 40)]
    assert [c.label for c in curve[:2]] == ["mi/raw/cnn1d/s0/n20", "mi/raw/cnn1d/s0/n40"]
    assert all("train_sizes" not in c.split for c in curve)  # the list leaves the config: adding a size keeps keys
    assert "train_size" not in plain[0].config() and curve[0].config()["train_size"] == 20
    keys = {c.key("fp") for c in curve} | {c.key("fp") for c in plain}
    assert len(keys) == 6
    again = _load(tmp_path, "train_sizes = [20, 40, 50]").expand()[0]
    assert {c.key("fp") for c in curve} < {c.key("fp") for c in again}


@pytest.mark.parametrize("split, message", [
    ("train_sizes = [20, 500]", "split.train_sizes = [20, 500]: [500] exceed the 59 training patients that "
                                "'synthetic:120,seed=1' leaves with val = 0.2, test = 0.3"),
    ("train_sizes = [20, 20]", "train_sizes = [20, 20]: lists a size twice"),
    ("train_sizes = [0]", "split.train_sizes[0] = 0: must be >= 1"),
    ("train_sizes = []", "split.train_sizes = []: must not be empty"),
    ("train_sizes = [20]\nfolds = 3", "train_sizes with folds = 3: a learning curve keeps one fixed validation"),
    ("train_sizes = [20]\nrecord_wise_LEAKY = [false, true]", "train_sizes with record_wise_LEAKY = true"),
])
def test_sizes_that_cannot_run_are_refused_when_the_grid_loads(tmp_path, split, message):
    with pytest.raises(GridError) as e:
        _load(tmp_path, split)
    assert str(e.value).startswith("grid ") and message in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_the_load_time_bound_is_the_split_it_will_make(tmp_path):
    """The largest size accepted when the grid loads is the number of training patients the split then holds."""
    cohort = load_cohort("synthetic:120,seed=1", cache_dir=tmp_path / "cache")
    split = patient_split(cohort.records, val=0.2, test=0.3, seed=0)
    n = cohort.records["patient_id"].iloc[split.train].nunique()
    assert n == 59
    _load(tmp_path, f"train_sizes = [{n}]")
    with pytest.raises(GridError, match=f"exceed the {n} training patients"):
        _load(tmp_path, f"train_sizes = [{n + 1}]")


@pytest.fixture(scope="module")
def mi_records(tmp_path_factory):
    cohort = load_cohort("synthetic:120,seed=1", cache_dir=tmp_path_factory.mktemp("cache"))
    task = TASKS.get("mi")()
    return cohort.records[np.asarray(task.select(cohort.records), bool)].reset_index(drop=True)


def test_sizes_are_nested_on_the_same_validation_and_test_patients(mi_records):
    records = mi_records
    pids = records["patient_id"].astype(str).to_numpy()
    full = patient_split(records, val=0.2, test=0.3, seed=0)
    subsets = {n: train_subset(records, full, n, seed=0) for n in (10, 20, 40)}
    patients = {n: set(pids[s.train]) for n, s in subsets.items()}
    assert [len(patients[n]) for n in (10, 20, 40)] == [10, 20, 40]
    assert patients[10] < patients[20] < patients[40] < set(pids[full.train])
    for s in subsets.values():
        assert np.array_equal(s.val, full.val) and np.array_equal(s.test, full.test)
        # a kept patient keeps every one of their training ECGs
        assert set(s.train) == {i for i in full.train if pids[i] in set(pids[s.train])}
        sets = {p: set(pids[getattr(s, p)]) for p in PARTS}
        assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"])
    assert set(pids[train_subset(records, full, 20, seed=1).train]) != patients[20]  # the split seed draws them
    with pytest.raises(GridError, match=r"train_sizes: 60 training patients asked for, the training part has 59"):
        train_subset(records, full, 60, seed=0)


def tiny_curves_grid(tmp_path: Path) -> Path:
    """The built-in curves grid, shrunk: 120 patients, sizes 20 and 40, MI only, one epoch."""
    return shrunk_builtin_grid(tmp_path, "curves", [
        ('source = "synthetic:8000,seed=1"', 'source = "synthetic:120,seed=1"'),
        ("train_sizes = [500, 1000, 2000, 4000]", "train_sizes = [20, 40]"), ("epochs = 3", "epochs = 1"),
        ("num_threads = 2", "num_threads = 1"), ("n_boot = 200", "n_boot = 40"), ('[[tasks]]\nname = "lvef"\n', ""),
        ("val = 0.15\ntest = 0.2", "val = 0.2\ntest = 0.3"),
        ("gradcam_ecgs = 0", "gradcam_ecgs = 0\nlog_model = false\nclinical = false")])


@pytest.mark.slow
def test_tiny_curves_run_gives_the_learning_curve_table_and_figure(tmp_path):
    from bench.report import build_report

    grid = load_grid(str(tiny_curves_grid(tmp_path)))
    results, cache = tmp_path / "results", tmp_path / "cache"
    uri = default_tracking_uri(results)
    out = io.StringIO()
    assert run_grid(grid, tracking_uri=uri, results_dir=results, cache_dir=cache, progress=False, out=out) == 0, \
        out.getvalue()
    client = client_for(uri)
    runs = client.search_runs([client.get_experiment_by_name("repbench-curves").experiment_id])
    assert len(runs) == 2 * 2  # MI x (raw/dilated_resnet1d, image@128/resnet2d) x sizes 20, 40
    for r in runs:
        size = int(r.data.tags["train_size"])
        assert r.data.metrics["data/n_train_patients"] == size
        assert r.data.tags["split_kind"] == "patient"
    by_pair = {}
    for r in runs:
        by_pair.setdefault((r.data.tags["representation"], r.data.tags["model"]), set()).add(
            r.data.metrics["data/n_test_patients"])
    assert len({v for s in by_pair.values() for v in s}) == 1  # every size and pair: the same test patients

    files = build_report(uri, "repbench-curves", tmp_path / "report", figures=True, n_boot=40)
    assert tmp_path / "report" / "figures" / "learning_curve.png" in files
    table = pd.read_csv(tmp_path / "report" / "tables" / "learning_curve.csv")
    models = table[table["line"] == "model"]
    assert sorted(models["train_size"].unique()) == [20, 40]
    assert len(models) == len(by_pair) * 2 and (models["n_seeds"] == 1).all()
    assert models["value"].between(0, 1).all()
    assert (pd.to_numeric(models["n_train_patients"]) == models["train_size"]).all()
    oracle = table[table["line"] == "oracle"]
    assert len(oracle) == 1 and 0.5 < oracle["value"].iloc[0] <= 1
    board = pd.read_csv(tmp_path / "report" / "tables" / "leaderboard_mi.csv")  # the main tables: the largest size
    largest = models[models["train_size"] == 40].set_index(["representation", "model"])["value"]
    assert board.set_index(["representation", "model"])["test/auroc"].to_dict() == pytest.approx(largest.to_dict(),
                                                                                                abs=1e-5)
    md = (tmp_path / "report" / "tables" / "learning_curve.md").read_text()
    assert "| mi | oracle | n/a | n/a | auroc |" in md and "| missing" not in md
    # each table's "Trained at" line counts the runs it shows: every size here, the largest in the leaderboard
    assert re.search(r"Trained at: [^(,]+ \(4 runs\)\.", md), md
    board_md = (tmp_path / "report" / "tables" / "leaderboard_mi.md").read_text()
    assert re.search(r"Trained at: [^(,]+ \(2 runs\)\.", board_md), board_md

    # the report of the grid as it reads now (one size dropped since those runs) shows the grid's sizes only
    now = tmp_path / "now.toml"
    now.write_text(tiny_curves_grid(tmp_path).read_text().replace("train_sizes = [20, 40]", "train_sizes = [40]"))
    build_report(uri, "repbench-curves", tmp_path / "report_now", grid=str(now), figures=False, n_boot=40)
    table_now = pd.read_csv(tmp_path / "report_now" / "tables" / "learning_curve.csv")
    assert sorted(table_now.loc[table_now["line"] == "model", "train_size"].unique()) == [40]


def test_builtin_curves_and_leak_grids_load():
    curves = load_grid("curves").expand()[0]
    assert sorted({c.train_size for c in curves}) == [500, 1000, 2000, 4000] and len(curves) == 16
    assert {(c.representation.id, c.model.id) for c in curves} == {("raw", "dilated_resnet1d"),
                                                                   ("image@128", "resnet2d")}
    leak = load_grid("leak").expand()[0]
    assert sorted(c.leaky for c in leak) == [False] * 12 + [True] * 12
