"""Datasets and models in MLflow: every finished cell of a tiny grid shows its splits as dataset inputs and one
loadable pyfunc model that reproduces the run's stored test predictions from standardised signals."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from bench.base.cohort import load_cohort
from bench.harness.driver import run_grid
from bench.harness.grid import load_grid
from bench.harness.tracking import client_for, default_tracking_uri

from _grids import grid_toml  # noqa: E402 - tests/ is on sys.path under pytest

GRID = grid_toml("store", "synthetic:40,seed=1", description="tiny grid: datasets and models in MLflow", val=0.25,
                 tasks=["mi", "af_survival"], representations=["raw", "dwt_pca"], models=["cnn1d", "mlp"])
EXPERIMENT = "repbench-store"


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict:
    """The tiny grid run once per session (test_predict reuses the same folder): results folder, tracking URI,
    cache folder and the source spec."""
    root = tmp_path_factory.getbasetemp() / "model-store-grid"
    done = root / "done.json"
    if not done.is_file():
        root.mkdir(exist_ok=True)
        (root / "grid.toml").write_text(GRID)
        results, cache = root / "results", root / "cache"
        status = run_grid(load_grid(str(root / "grid.toml")), tracking_uri=default_tracking_uri(results),
                          results_dir=results, cache_dir=cache, device="cpu", progress=False)
        assert status == 0
        done.write_text(json.dumps({"results": str(results), "cache": str(cache),
                                    "uri": default_tracking_uri(results), "source": "synthetic:40,seed=1"}))
    info = json.loads(done.read_text())
    return {**info, "results": Path(info["results"]), "cache": Path(info["cache"])}


def finished_runs(uri: str, experiment: str = EXPERIMENT):
    client = client_for(uri)
    exp = client.get_experiment_by_name(experiment)
    return client, exp, client.search_runs([exp.experiment_id], max_results=100)


def stored_predictions(client, run_id: str, tmp_path: Path) -> pd.DataFrame:
    return pd.read_csv(client.download_artifacts(run_id, "predictions.csv", str(tmp_path)),
                       dtype={"ecg_id": str})


def test_every_finished_run_has_its_splits_as_datasets(trained):
    client, exp, runs = finished_runs(trained["uri"])
    assert exp.tags["mlflow.note.content"] == "tiny grid: datasets and models in MLflow"
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    for r in runs:
        inputs = {[t.value for t in d.tags if t.key == "mlflow.data.context"][0]: d.dataset
                  for d in r.inputs.dataset_inputs}
        assert set(inputs) == {"training", "validation", "test"}, r.info.run_name
        for context, part in (("training", "train"), ("validation", "val"), ("test", "test")):
            ds = inputs[context]
            assert ds.name == trained["source"]
            profile = json.loads(ds.profile)
            assert profile["ecgs"] == r.data.metrics[f"data/n_{part}"]
            assert json.loads(ds.source)["spec"] == trained["source"]
        assert len({d.digest for d in inputs.values()}) == 3  # the splits are different datasets
        test_ids = json.loads(Path(client.download_artifacts(r.info.run_id, "split.json")).read_text())["test"]
        assert json.loads(inputs["test"].profile)["ecgs"] == len(test_ids)
    by_context = client.search_runs([exp.experiment_id], filter_string="dataset.context = 'test' and "
                                    f"dataset.name = '{trained['source']}'")
    assert len(by_context) == 4


def test_every_finished_run_has_a_ready_model(trained):
    client, exp, runs = finished_runs(trained["uri"])
    models = client.search_logged_models(experiment_ids=[exp.experiment_id])
    by_run = {m.source_run_id: m for m in models}
    for r in runs:
        m = by_run[r.info.run_id]
        assert m.name == "model" and str(m.status).upper().endswith("READY")
        assert [o.model_id for o in r.outputs.model_outputs] == [m.model_id]  # the UI's Models column


@pytest.mark.parametrize("task", ["mi", "af_survival"])
@pytest.mark.parametrize("pair", ["raw/cnn1d", "dwt_pca/mlp"])
def test_runs_uri_model_reproduces_stored_test_predictions(trained, task, pair, tmp_path, monkeypatch):
    """`mlflow.pyfunc.load_model("runs:/<id>/model")` on the run's own standardised test ECGs gives its
    predictions.csv scores (the output decoding of the task included: probability, survival curve, risks)."""
    client, _, runs = finished_runs(trained["uri"])
    run = next(r for r in runs if r.info.run_name == f"{task}/{pair}/s0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    stored = stored_predictions(client, run.info.run_id, tmp_path)
    cohort = load_cohort(trained["source"], cache_dir=str(trained["cache"]))
    row = {e: i for i, e in enumerate(cohort.records["ecg_id"].astype(str))}
    signals = np.asarray(cohort.signals[[row[e] for e in stored["ecg_id"]]])
    scores = model.predict(signals)
    score_cols = [c for c in stored.columns if c.startswith("score_")]
    assert [f"score_{c}" for c in scores.columns] == score_cols
    if task == "af_survival":
        assert {"risk_5y", "surv_25", "score"} <= set(scores.columns)
    np.testing.assert_allclose(scores.to_numpy(float), stored[score_cols].to_numpy(float), rtol=1e-5, atol=1e-6)


def test_model_carries_signature_package_version_and_its_weights_only(trained, tmp_path):
    from bench import __version__
    from bench.harness.model_store import load_run_model, logged_models

    client, _, runs = finished_runs(trained["uri"])
    run = next(r for r in runs if r.info.run_name == "mi/raw/cnn1d/s0")
    model = load_run_model(client, run.info.run_id)
    meta = model.metadata
    assert meta.metadata["ecg_repbench_version"] == __version__
    assert meta.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 12, 5000)
    assert meta.signature.outputs.input_names() == ["score"]
    with pytest.raises(MlflowException, match=r"does not match expected shape \(-1, 12, 5000\)"):
        model.predict(np.zeros((2, 12, 2500), np.float32))
    # size: parameters x 4 bytes plus pickling overhead, nothing else of size
    logged = logged_models(client, run.info.experiment_id, [run.info.run_id])[run.info.run_id]
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=logged.artifact_location,
                                                     tracking_uri=trained["uri"], dst_path=str(tmp_path)))
    total = sum(f.stat().st_size for f in local.rglob("*") if f.is_file())
    n_params = run.data.metrics["compute/params"]
    assert 4 * n_params <= total < 4 * n_params * 1.1 + 200_000


def test_log_model_false_logs_datasets_but_no_model(trained, tmp_path):
    text = GRID.replace('name = "store"', 'name = "store-nomodel"').replace("[eval]", "[eval]\nlog_model = false")
    (tmp_path / "grid.toml").write_text(text)
    grid = load_grid(str(tmp_path / "grid.toml"))
    assert grid.eval["log_model"] is False
    grid.tasks, grid.representations, grid.models = grid.tasks[:1], grid.representations[1:], grid.models[1:]
    results = tmp_path / "results"
    assert run_grid(grid, tracking_uri=default_tracking_uri(results), results_dir=results,
                    cache_dir=trained["cache"], device="cpu", progress=False) == 0
    client, exp, runs = finished_runs(default_tracking_uri(results), "repbench-store-nomodel")
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert len(runs[0].inputs.dataset_inputs) == 3
    assert list(client.search_logged_models(experiment_ids=[exp.experiment_id])) == []
    from bench.base.errors import TrackedModelError
    from bench.harness.model_store import load_run_model

    with pytest.raises(TrackedModelError, match="no model logged"):
        load_run_model(client, runs[0].info.run_id)


def test_cache_hit_gives_the_representation_its_fitted_state(trained, tmp_path):
    """A representation cache hit restores what `transform` needs (PCA, scaler), so a cell whose features came
    from the cache can still save a working model."""
    from sklearn.base import clone

    from bench.harness.cache import build_features, last_build_stats
    from representations import REPRESENTATIONS

    cohort = load_cohort(trained["source"], cache_dir=str(trained["cache"]))
    train = np.arange(0, len(cohort.records), 2)
    first = clone(REPRESENTATIONS.get("dwt_pca")())
    features = build_features(first, cohort, train, tmp_path)
    assert last_build_stats()["hit"] is False
    second = clone(REPRESENTATIONS.get("dwt_pca")())
    build_features(second, cohort, train, tmp_path)
    assert last_build_stats()["hit"] is True
    np.testing.assert_array_equal(second.pca_.components_, first.pca_.components_)
    np.testing.assert_array_equal(second.transform(np.asarray(cohort.signals[:5])), features[:5])
