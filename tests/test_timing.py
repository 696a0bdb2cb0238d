"""`python -m bench timing`: image vs matrix training time measured back to back in one process, on real
(simulated) ECGs through the grid's own representations and models, written where `bench tables` reads it."""
from __future__ import annotations

import pandas as pd

from bench.cli import main

from _grids import grid_toml  # noqa: E402 - tests/ is on sys.path under pytest

IMAGE = ("image", "image@64", {"width": 64})


def timing_grid(representations=("raw", IMAGE)) -> str:
    return grid_toml("timing_test", "synthetic:40,seed=1", batch_size=8, patience=None, n_boot=None,
                     gradcam_ecgs=None, tasks=["mi"], representations=representations,
                     models=["cnn1d", ("resnet2d", "resnet2d_narrow", {"depth": 18, "width": 0.25}),
                             ("resnet2d", "resnet2d_wide", {"depth": 18, "width": 1.0})])


def test_timing_writes_a_ratio_per_image_matrix_pair(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(timing_grid())
    out = tmp_path / "out"
    code = main(["timing", "--grid", str(grid), "--results", str(tmp_path / "results"), "--out", str(out),
                 "--n-ecgs", "16", "--steps", "2", "--repeats", "3", "--device", "cpu"])
    assert code == 0
    t = pd.read_csv(out / "timing.csv").set_index("image")
    # every image pair against every matrix (raw sequence) pair of the task; no vector or image-image pair
    assert sorted(t.index) == ["image@64 / resnet2d_narrow", "image@64 / resnet2d_wide"]
    assert set(t["matrix"]) == {"raw / cnn1d"} and set(t["task"]) == {"mi"}
    assert (t[["image_ms_per_ecg", "matrix_ms_per_ecg"]] > 0).all().all()
    assert ((t["ratio_min"] <= t["ratio"]) & (t["ratio"] <= t["ratio_max"])).all()
    assert (t["n_ecgs"] == 16).all() and (t["repeats"] == 3).all() and (t["device"] == "cpu").all()
    # 16x the channels' weights: the wide ResNet costs more per ECG than the narrow one, against the same matrix model
    assert t.loc["image@64 / resnet2d_wide", "image_ms_per_ecg"] > t.loc["image@64 / resnet2d_narrow",
                                                                          "image_ms_per_ecg"]
    assert "2 pairs" in capsys.readouterr().out


def test_a_grid_without_an_image_matrix_pair_is_one_line_before_any_work(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(timing_grid(representations=["raw"]))
    out = tmp_path / "out"
    assert main(["timing", "--grid", str(grid), "--results", str(tmp_path / "results"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "grid 'timing_test': no task has both an image and a matrix" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "results" / "cache").exists()
