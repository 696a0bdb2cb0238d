"""`python -m bench timing`: image vs matrix training time measured back to back in one process, on real
(simulated) ECGs through the grid's own representations and models, written where `bench tables` reads it."""
from __future__ import annotations

import pandas as pd

from bench.cli import main

GRID = """
name = "timing_test"
source = "synthetic:40,seed=1"
seeds = [0]
[train]
epochs = 1
batch_size = 8
num_threads = 1
[split]
val = 0.2
test = 0.3
[[tasks]]
name = "mi"
[[representations]]
name = "raw"
[[representations]]
name = "image"
label = "image@64"
params = { width = 64 }
[[models]]
name = "cnn1d"
[[models]]
name = "resnet2d"
label = "resnet2d_narrow"
params = { depth = 18, width = 0.25 }
[[models]]
name = "resnet2d"
label = "resnet2d_wide"
params = { depth = 18, width = 1.0 }
"""


def test_timing_writes_a_ratio_per_image_matrix_pair(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
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
    grid.write_text(GRID.replace('[[representations]]\nname = "image"\nlabel = "image@64"\nparams = { width = 64 }\n',
                                 ""))
    out = tmp_path / "out"
    assert main(["timing", "--grid", str(grid), "--results", str(tmp_path / "results"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "grid 'timing_test': no task has both an image and a matrix" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "results" / "cache").exists()
