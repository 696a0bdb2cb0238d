"""The `resolution_sweep` table: one row per image model and width, from the runs of test_tables (realistic `mi`
runs, image@64 and image@128 into resnet2d, seed 2 of image@128 failed), with both oracles recomputed from the
runs' predictions on the same test ECGs."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from test_tables import EXPERIMENT, VAL_AUROC, grid_runs, registered  # noqa: F401 - fixtures


def test_resolution_sweep_rows_and_oracles(grid_runs, tmp_path):  # noqa: F811
    from bench.report import build_report

    build_report(grid_runs["uri"], EXPERIMENT, tmp_path, figures=False, n_boot=60)
    csv = pd.read_csv(tmp_path / "tables" / "resolution_sweep.csv")
    assert csv[["model", "width"]].values.tolist() == [["resnet2d", 64], ["resnet2d", 128]]
    truth, test = grid_runs["truth"], grid_runs["test"]
    for _, row in csv.iterrows():
        rep = f"image@{row['width']}"
        vals = [a for (r, m, s), (_, a) in truth.items() if (r, m) == (rep, "resnet2d")]
        assert math.isclose(row["value"], np.mean(vals), rel_tol=1e-5)
        assert row["value_lo"] < row["value"] < row["value_hi"]
    full = roc_auc_score(test["mi"], test["latent"])  # the oracle is monotone in the latent severity
    blind = roc_auc_score(test["mi"], np.round(test["latent"]))
    assert np.allclose(csv["oracle"], full) and np.allclose(csv["oracle_fqrs_blind"], blind)
    assert (csv["oracle_margin_lo"] <= csv["oracle_margin"]).all()
    assert (csv["oracle_margin"] < csv["oracle_margin_hi"]).all()
    # the best matrix model is chosen on validation (raw / resnet1d), whatever its test value
    pair = max((("raw", "cnn1d"), ("raw", "resnet1d")), key=VAL_AUROC.get)
    best_matrix = np.mean([a for (r, m, s), (_, a) in truth.items() if (r, m) == pair])
    assert np.allclose(csv["best_matrix_value"], best_matrix, rtol=1e-5)
    md = (tmp_path / "tables" / "resolution_sweep.md").read_text()
    assert "fQRS-blind oracle" in md and "2/3 (incomplete)" in md
