"""What a cell does besides running its model: the representation cost probe runs once per cache entry (a hit
renders nothing), the grid's cohorts and representation entries are prepared before the first cell, and every run
logs `compute/overhead_s` = cell wall time - training time - inference time."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bench.base.cohort import load_cohort
from bench.harness import cache
from bench.harness.driver import run_grid
from bench.harness.grid import load_grid
from bench.harness.tracking import client_for, default_tracking_uri
from representations import REPRESENTATIONS

from _grids import grid_toml  # noqa: E402 - tests/ is on sys.path under pytest

SOURCE = "synthetic:60,seed=1"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def cohort(cache_dir):
    return load_cohort(SOURCE, cache_dir=str(cache_dir))


def test_cost_probe_is_stored_with_the_entry_and_reused_on_a_hit(cohort, cache_dir, monkeypatch):
    train = np.arange(0, len(cohort.records), 2)
    rep = REPRESENTATIONS.get("image")(width=64)
    cache.build_features(rep, cohort, train, cache_dir)
    built = cache.entry_cost()
    assert built["compute/repr_ms_per_ecg"] > 0
    assert built["compute/repr_bytes_per_ecg"] == np.prod(rep.output_shape())  # uint8: one byte per value
    assert not cache.last_build_stats()["hit"]

    def no_render(self, X):
        raise AssertionError("a cache hit rendered ECGs")

    fresh = REPRESENTATIONS.get("image")(width=64)
    monkeypatch.setattr(type(fresh), "transform", no_render)
    cache.build_features(fresh, cohort, train, cache_dir)
    assert cache.last_build_stats()["hit"]
    assert cache.entry_cost() == built


def test_an_entry_without_a_stored_probe_gets_one_once(cohort, cache_dir):
    rep = REPRESENTATIONS.get("raw")()
    cache.build_features(rep, cohort, np.arange(len(cohort.records)), cache_dir)
    meta_path = cache.Path(cache.last_build_stats()["path"]) / cache.META
    meta = json.loads(meta_path.read_text())
    del meta["probe"]  # as written before the probe was stored
    meta_path.write_text(json.dumps(meta))
    cache.build_features(REPRESENTATIONS.get("raw")(), cohort, np.arange(len(cohort.records)), cache_dir)
    probe = json.loads(meta_path.read_text())["probe"]
    assert probe["repr_bytes_per_ecg"] == 12 * 5000 * 4
    assert cache.entry_cost()["compute/repr_ms_per_ecg"] == pytest.approx(probe["repr_ms_per_ecg"])


GRID = grid_toml("overhead", SOURCE, epochs=2, n_boot=50, tasks=["lvef"], representations=["raw"], models=["cnn1d"])


def test_every_run_logs_its_overhead_beside_its_training_and_inference_time(cohort, cache_dir, tmp_path):
    import io

    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(GRID)
    results = tmp_path / "results"
    fresh_cache = tmp_path / "cache"  # nothing built yet: the preparation builds the entry, the cell opens it
    out = io.StringIO()
    assert run_grid(load_grid(str(grid_file)), tracking_uri=default_tracking_uri(results), results_dir=results,
                    cache_dir=fresh_cache, device="cpu", progress=False, out=out) == 0
    assert "prepared 1 cohort(s) and 1 representation entry (1 built now)" in out.getvalue()
    client = client_for(default_tracking_uri(results))
    (run,) = client.search_runs([client.get_experiment_by_name("repbench-overhead").experiment_id])
    m = run.data.metrics
    wall = (run.info.end_time - run.info.start_time) / 1000
    assert 0 < m["compute/overhead_s"] < wall
    assert m["compute/infer_s"] > 0
    assert m["compute/overhead_s"] + m["compute/train_s"] + m["compute/infer_s"] == pytest.approx(wall, abs=1.0)
    assert m["compute/repr_ms_per_ecg"] > 0 and m["compute/repr_bytes_per_ecg"] == 12 * 5000 * 4
    assert m["compute/repr_build_s"] > 0  # built by the preparation, and still the run's to see
    names = {a.path for a in client.list_artifacts(run.info.run_id)}  # staged, then logged in one call
    assert {"predictions.csv", "split.json", "quarantine.csv"} <= names


def test_a_cell_whose_preparation_fails_fails_in_its_own_run_and_the_grid_goes_on(cache_dir, tmp_path):
    import io

    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(grid_toml("overhead2", SOURCE, epochs=1, n_boot=20, tasks=["lvef"],
                                   representations=["raw", ("dwt_pca", None, {"n_components": 13})],
                                   models=["cnn1d", "mlp"]))
    results = tmp_path / "results"
    out = io.StringIO()
    assert run_grid(load_grid(str(grid_file)), tracking_uri=default_tracking_uri(results), results_dir=results,
                    cache_dir=cache_dir, device="cpu", progress=False, out=out) == 1
    text = out.getvalue()
    assert "1 cell(s) left to fail in their own run" in text
    assert "FAILED lvef/dwt_pca/mlp/s0: ValueError: dwt_pca: n_components 13 exceeds the 12 lead(s)" in text
    client = client_for(default_tracking_uri(results))
    runs = client.search_runs([client.get_experiment_by_name("repbench-overhead2").experiment_id])
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
