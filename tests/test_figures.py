"""Figures from MLflow runs: the Pareto front, every figure written as PNG and PDF, byte-identical rebuilds,
Grad-CAM tiles from the runs' artifacts. Runs: the fixture of test_tables (realistic `mi` runs)."""
from __future__ import annotations

import numpy as np
import pytest

from bench.report.figures import pareto_front
from test_tables import EXPERIMENT, grid_runs, registered  # noqa: F401 - fixtures

FIGURES = ("accuracy_vs_compute", "calibration_curves", "roc_curves", "km_vs_predicted", "resolution_sweep",
           "gradcam_montage")


def test_pareto_front_hand_worked():
    x = np.array([4.0, 1.0, 3.0, 2.0, 5.0])
    y = np.array([0.65, 0.60, 0.70, 0.50, 0.70])
    # cheapest (1, .60) -> (3, .70); (2, .50) and (4, .65) are dominated; (5, .70) ties without gaining
    assert pareto_front(x, y).tolist() == [1, 2]
    # lower is better (e.g. an error): cheapest first, then only strict improvements
    assert pareto_front(x, y, higher_is_better=False).tolist() == [1, 3]


@pytest.fixture(scope="module")
def built(grid_runs, tmp_path_factory):  # noqa: F811
    from bench.report.aggregate import aggregate
    from bench.report.figures import build_figures
    from bench.report.runs import load_runs
    from bench.report.tables import COMPUTE, test_metrics

    rs = load_runs(grid_runs["uri"], EXPERIMENT)
    agg = aggregate(rs, test_metrics(rs) + COMPUTE)
    return rs, agg, build_figures(rs, agg, tmp_path_factory.mktemp("figures"))


@pytest.mark.slow
def test_every_figure_is_written(built):
    import matplotlib.image as mpimg

    files = built[2]
    assert sorted(p.name for p in files) == sorted(f"{n}.{e}" for n in FIGURES for e in ("png", "pdf"))
    for p in files:
        data = p.read_bytes()
        if p.suffix == ".pdf":
            assert data.startswith(b"%PDF") and b"CreationDate" not in data
        else:
            img = mpimg.imread(str(p))
            assert img.shape[0] > 300 and img.shape[1] > 300
            assert img[..., :3].std() > 0.05, f"{p.name} looks blank"


@pytest.mark.slow
def test_figures_are_byte_identical(built, tmp_path):
    from bench.report import curves, figures

    rs, agg, files = built
    first = {p.name: p for p in files}
    again = figures.accuracy_vs_compute(rs, agg, tmp_path) + curves.roc_curves(rs, tmp_path)
    again += figures.gradcam_montage(rs, tmp_path)
    for p in again:
        assert p.read_bytes() == first[p.name].read_bytes(), p.name


def test_gradcam_tiles_come_from_the_runs(grid_runs):  # noqa: F811
    from bench.report.figures import gradcam_tiles
    from bench.report.runs import load_runs

    tiles, missing = gradcam_tiles(load_runs(grid_runs["uri"], EXPERIMENT))
    titles = [t for t, _ in tiles]
    # one tile per representation x model with maps (mlp on DWT-PCA features logs none), lowest seed
    assert titles == ["mi: image@128 / resnet2d (seed 0)", "mi: image@64 / resnet2d (seed 0)",
                      "mi: raw / cnn1d (seed 0)", "mi: raw / resnet1d (seed 0)"]
    assert all(p.is_file() and p.suffix == ".png" for _, p in tiles)
    assert missing == []
