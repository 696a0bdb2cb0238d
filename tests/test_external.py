"""External validation: every cell is also scored on each `[[external]]` cohort through the representation as
fitted on its training split, with metrics and predictions under `external/<name>/`, and the tables show them
beside the test column."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from bench.base.cohort import load_cohort
from bench.base.errors import GridError
from bench.harness.cache import build_features
from bench.harness.driver import run_grid
from bench.harness.evaluation import evaluate_with_ci
from bench.harness.external import fitted_representation
from bench.harness.grid import load_grid
from bench.harness.tracking import client_for, default_tracking_uri
from representations import REPRESENTATIONS
from tasks import TASKS

from _grids import grid_toml  # noqa: E402 - tests/ is on sys.path under pytest

GRID = grid_toml("ext", "synthetic:60,seed=3", epochs=2, n_boot=40, tasks=["mi"], representations=["dwt_pca"],
                 models=["mlp"], external={"other_site": "synthetic:40,seed=11"})


def _grid(tmp_path: Path, text: str = GRID):
    p = tmp_path / "grid.toml"
    p.write_text(text)
    return load_grid(str(p))


def test_external_blocks_are_checked(tmp_path):
    cells, _ = _grid(tmp_path).expand()
    assert cells[0].external == {"other_site": "synthetic:40,seed=11"}
    assert cells[0].config()["external"] == {"other_site": "synthetic:40,seed=11"}
    with pytest.raises(GridError, match=r"external\[0\]\.src = .*unknown key \(did you mean source"):
        _grid(tmp_path, GRID.replace('source = "synthetic:40,seed=11"', 'src = "synthetic:40,seed=11"'))
    with pytest.raises(GridError, match="external name 'other/site': use letters"):
        _grid(tmp_path, GRID.replace('name = "other_site"', 'name = "other/site"'))
    with pytest.raises(GridError, match="external 'other_site' has the grid's own source"):
        _grid(tmp_path, GRID.replace("synthetic:40,seed=11", "synthetic:60,seed=3"))


def test_cached_representation_is_refitted_on_the_training_rows_only(tmp_path):
    """A cache hit restores the data-fitted representation stored with the entry (fitted on the training rows), so
    external ECGs go through the very transform the cache was built with; refitting an unfitted clone on the same
    rows gives that transform too."""
    cohort = load_cohort("synthetic:60,seed=3", cache_dir=tmp_path)
    rep = REPRESENTATIONS.get("dwt_pca")()
    train = np.arange(0, len(cohort), 2)
    cached = build_features(clone(rep), cohort, train, tmp_path)
    hit = clone(rep)
    assert np.array_equal(build_features(hit, cohort, train, tmp_path), cached) and hasattr(hit, "pca_")
    np.testing.assert_allclose(hit.transform(cohort.signals[:6]), cached[:6], rtol=1e-5, atol=1e-6)
    fitted = fitted_representation(clone(rep), cohort, train)
    np.testing.assert_allclose(fitted.transform(cohort.signals[:6]), cached[:6], rtol=1e-5, atol=1e-6)
    other = clone(rep).fit(cohort.signals[1::2])  # fitted on other rows: a different transform
    assert not np.allclose(other.transform(cohort.signals[:6]), cached[:6], rtol=1e-3)


@pytest.mark.slow
def test_external_cohort_is_scored_logged_and_tabled(tmp_path):
    from bench.report.paired import ORACLE, split_predictions
    from bench.report.runs import load_runs
    from bench.report.tables import build_tables

    grid = _grid(tmp_path)
    results = tmp_path / "results"
    uri = default_tracking_uri(results)
    assert run_grid(grid, tracking_uri=uri, results_dir=results, cache_dir=tmp_path / "cache", progress=False,
                    out=io.StringIO()) == 0
    client = client_for(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("repbench-ext").experiment_id])
    m = run.data.metrics
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "external/other_site")}
    assert {f"external/other_site/{n}" for n in ("predictions.csv", "bootstrap_metrics.csv", "metric_info.csv")} <= arts
    pred = pd.read_csv(client.download_artifacts(run.info.run_id, "external/other_site/predictions.csv",
                                                 str(tmp_path)), dtype={"ecg_id": str, "patient_id": str})
    ext = load_cohort("synthetic:40,seed=11", cache_dir=tmp_path / "cache")
    task = TASKS.get("mi")()
    assert len(pred) == int(np.asarray(task.select(ext.records), bool).sum()) == m["data/external/other_site/n"]
    # the logged metrics are exactly the stored predictions scored through the task's contract
    records, scores = split_predictions(pred)
    direct, _ = evaluate_with_ci(task, records, scores, oracle_scores=split_predictions(pred, ORACLE)[1],
                                 n_boot=40, seed=0, prefix="external/other_site",
                                 oracle_prefix="external/other_site/oracle")
    for k in ("auroc", "auprc", "brier", "ece", "oracle/auroc"):
        for b in ("", "_lo", "_hi"):
            key = f"external/other_site/{k}{b}"
            assert m[key] == pytest.approx(direct[key]), key
    assert m["external/other_site/auroc_lo"] <= m["external/other_site/auroc"] <= m["external/other_site/auroc_hi"]
    selected = ext.records[np.asarray(task.select(ext.records), bool)]
    assert sorted(pred["ecg_id"]) == sorted(selected["ecg_id"].astype(str))  # the external ECGs, every one

    _, tables = build_tables(load_runs(uri, "repbench-ext"), n_boot=40)
    board = next(t for t in tables if t.name == "leaderboard_mi")
    col = "External other_site: auroc [95% CI]"
    assert list(board.display.columns[:4]) == ["Representation", "Model", "auroc [95% CI]", col]
    assert board.display[col].iloc[0].startswith(f"{m['external/other_site/auroc']:.3f} [")
    assert board.data["external/other_site/auroc"].iloc[0] == pytest.approx(m["external/other_site/auroc"])


def test_a_changed_file_in_an_external_cohort_changes_the_cell_key(tmp_path):
    """Resume must not keep a cell whose external cohort's data changed since it ran (its external metrics would
    be of the old data)."""
    from bench.data.fingerprint import cached_fingerprint

    site = tmp_path / "site"
    site.mkdir()
    (site / "labels.csv").write_text("file,patient_id,ecg_datetime\na.hea,p1,2020-01-01T00:00:00\n")
    text = grid_toml("ext2", "synthetic:60,seed=3", tasks=["mi"], representations=["dwt_pca"], models=["mlp"],
                     external={"site": f"folder:{site}"})
    (cell,) = _grid(tmp_path, text).expand()[0]
    before = cell.key("fp")
    (site / "labels.csv").write_text("file,patient_id,ecg_datetime\na.hea,p2,2020-01-01T00:00:00\n")
    cached_fingerprint.cache_clear()  # a new process: the fingerprint is cached per process
    assert cell.key("fp") != before
