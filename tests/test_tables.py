"""Tables from MLflow runs: seed aggregation, missing cells, paired comparisons, byte-identical output.

The runs are written with MlflowClient in the layout `bench.harness.runner` produces (tags, params, metrics, predictions
artifact, metrics from `evaluate_with_ci`) for the `mi` task with realistic scores: a weak matrix model, a stronger image model, one failed cell
and one cell that never ran.
"""
from __future__ import annotations

import math
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bench.base.errors import ReportError
from bench.harness.evaluation import evaluate_with_ci
from bench.harness.provenance import COMMIT_TAG, DIRTY_TAG
from bench.report.runs import load_runs
from bench.harness.tracking import client_for, default_tracking_uri, log_metrics, log_params, set_tags
from representations.base import REPRESENTATIONS, Representation, register_representation
from tasks import TASKS

EXPERIMENT = "repbench-tbl"
N_PATIENTS, N_BOOT = 90, 60
# (representation id, representation name, width, model id, model name, depth, signal strength, GFLOPs)
PAIRS = [
    ("raw", "tbl_matrix_test", None, "cnn1d", "cnn1d", None, 1.0, 0.29),
    ("raw", "tbl_matrix_test", None, "resnet1d", "resnet1d", 18, 1.2, 0.9),
    ("image@64", "tbl_image_test", 64, "resnet2d", "resnet2d", 18, 1.6, 2.0),
    ("image@128", "tbl_image_test", 128, "resnet2d", "resnet2d", 18, 1.7, 7.5),
    ("dwt_pca", "tbl_vector_test", None, "mlp", "mlp", None, 0.8, 0.0001),
]
SEEDS = [0, 1, 2]
TRAINED_AT = "0123abc" + "9" * 33  # the git commit tag of seeds 0 and 1
FAILED = ("image@128", "resnet2d", 2)  # ends FAILED
NEVER = ("dwt_pca", "mlp")  # no run at all for seed 1


@pytest.fixture(scope="module")
def registered():
    """Three representation kinds, registered for this module only (the report reads a run's kind from them)."""
    for name, kind in (("tbl_matrix_test", "sequence"), ("tbl_image_test", "image"), ("tbl_vector_test", "vector")):
        register_representation(name, kind=kind)(type(name, (Representation,), {}))
    yield
    for name in ("tbl_matrix_test", "tbl_image_test", "tbl_vector_test"):
        REPRESENTATIONS.unregister(name)


def _test_set(rng):
    """ECGs of N_PATIENTS patients (1-3 ECGs each): a latent severity and a label drawn from its true risk."""
    rows = []
    for p in range(N_PATIENTS):
        latent = rng.normal(0.0, 1.0)
        y = int(rng.random() < _sigmoid(2.5 * latent - 1.5))
        for k in range(rng.integers(1, 4)):
            rows.append({"ecg_id": f"e{p:03d}_{k}", "patient_id": f"p{p:03d}", "mi": y, "latent": latent})
    return pd.DataFrame(rows)


#: Each pair's validation AUROC (seed 0; + 0.001 per seed), ranked so that a choice on validation differs from the
#: choice on these test sets (where image@64 and cnn1d score best).
VAL_AUROC = {("raw", "cnn1d"): 0.70, ("raw", "resnet1d"): 0.74, ("image@64", "resnet2d"): 0.75,
             ("image@128", "resnet2d"): 0.78, ("dwt_pca", "mlp"): 0.72}


def _val_auroc(rep: str, model: str, seed: int) -> float:
    return VAL_AUROC[(rep, model)] + 0.001 * seed


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _gradcam_png(path: Path, rng) -> None:
    """A small heat-map PNG like the ones bench.harness.gradcam logs."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().imshow(rng.random((12, 50)), aspect="auto", cmap="inferno")
    fig.savefig(path, dpi=60, metadata={"Software": None})


def make_runs(results: Path, registered_ok=True) -> dict:
    """Write the grid's runs; returns {(rep, model, seed): (run_id, auroc)} for the finished ones."""
    rng = np.random.default_rng(7)
    test = _test_set(rng)
    uri = default_tracking_uri(results)
    client = client_for(uri)
    exp = client.create_experiment(EXPERIMENT, artifact_location=(results.resolve() / "mlruns").as_uri())
    truth = {}
    task = TASKS.get("mi")()
    tmp = results / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    # a waveform oracle: the true risk seen through noise (what the ECG does not show)
    waveform = _sigmoid(2.5 * test["latent"].to_numpy() - 1.5 + np.random.default_rng(7).normal(0.0, 1.5, len(test)))
    for rep, rep_name, width, model, model_name, depth, strength, gflops in PAIRS:
        for seed in SEEDS:
            if (rep, model) == NEVER and seed == 1:
                continue
            srng = np.random.default_rng(zlib.crc32(f"{rep}/{model}/{seed}".encode()))
            score = _sigmoid(strength * test["latent"].to_numpy() - 1 + srng.normal(0, 1.0, len(test)))
            oracle = _sigmoid(2.5 * test["latent"].to_numpy() - 1.5)  # the true risk
            tags = {"cell_key": f"{rep}-{model}-{seed}", "task": "mi", "representation": rep, "model": model,
                    "seed": str(seed), "grid": "tbl", "source": "synthetic:300,seed=1"}
            if seed < 2:  # seed 2's runs were logged before runs carried the commit that trained them
                tags.update({COMMIT_TAG: TRAINED_AT, DIRTY_TAG: "false"})
            run = client.create_run(exp, run_name=f"mi/{rep}/{model}/s{seed}", tags=tags)
            rid = run.info.run_id
            params = {"task.name": "mi", "representation.name": rep_name, "model.name": model_name, "seed": seed,
                      "train.lr": 3e-4}
            if width:
                params["representation.params.width"] = width
            if depth:
                params["model.params.depth"] = depth
            log_params(client, rid, params)
            if (rep, model, seed) == FAILED:
                set_tags(client, rid, {"status_reason": "RuntimeError: out of memory"})
                client.set_terminated(rid, "FAILED")
                continue
            records = test[["ecg_id", "patient_id", "mi"]]
            measured, _ = evaluate_with_ci(task, records, pd.DataFrame({"score": score}), n_boot=N_BOOT, seed=0,
                                           oracle_scores=pd.DataFrame({"score": oracle}),
                                           other_oracles={"oracle_waveform": pd.DataFrame({"score": waveform})})
            metrics = {**measured, "compute/params": 1e6 * gflops ** 0.5, "compute/flops_per_ecg": gflops * 1e9,
                       "compute/train_s": 30 * gflops + 5 + seed, "compute/peak_rss_mb": 900 + 100 * gflops,
                       "compute/repr_ms_per_ecg": 0.1 if rep == "raw" else 2.0 + (width or 0) / 32,
                       "compute/repr_bytes_per_ecg": 12 * 5000 * 4 if rep == "raw" else 3 * (width or 8) ** 2,
                       "compute/infer_ms_per_ecg": 1.5 * gflops + 0.2,
                       "data/n_test_patients": N_PATIENTS, "data/n_test": len(test)}
            metrics["val/best_auroc"] = _val_auroc(rep, model, seed)
            log_metrics(client, rid, metrics)
            log_metrics(client, rid, [(k, 0.7 - 0.05 * e + 0.01 * seed, e) for e in range(4)
                                      for k in ("train/loss", "val/loss")])
            blind = _sigmoid(2.5 * np.round(test["latent"].to_numpy()) - 1.5)  # a reader missing the fine detail
            preds = records.assign(score_score=score, oracle_score=oracle, fqrs_blind_oracle_score=blind,
                                    oracle_waveform_score=waveform)
            path = tmp / "predictions.csv"
            preds.to_csv(path, index=False)
            client.log_artifact(rid, str(path))
            if model != "mlp":  # vector inputs have no Grad-CAM
                cam = tmp / "gradcam" / f"{test['ecg_id'].iloc[0]}.png"
                cam.parent.mkdir(exist_ok=True)
                _gradcam_png(cam, srng)
                client.log_artifact(rid, str(cam), "gradcam")
            set_tags(client, rid, {"status_reason": "ok"})
            client.set_terminated(rid, "FINISHED")
            truth[(rep, model, seed)] = (rid, roc_auc_score(records["mi"], score))
    return {"uri": uri, "truth": truth, "test": test, "waveform": waveform}


@pytest.fixture(scope="module")
def grid_runs(tmp_path_factory, registered):
    results = tmp_path_factory.mktemp("tbl-results")
    return {**make_runs(results), "results": results}


def test_load_runs_marks_failed_and_never_run_cells(grid_runs):
    rs = load_runs(grid_runs["uri"], EXPERIMENT)
    assert len(rs.runs) == len(grid_runs["truth"])
    cells = rs.cells.set_index(["representation", "model", "seed"])
    assert cells.loc[FAILED, "status"] == "FAILED"
    assert "out of memory" in cells.loc[FAILED, "reason"]
    assert cells.loc[(*NEVER, 1), "status"] == "missing"
    assert set(rs.runs["rep_kind"]) == {"sequence", "image", "vector"}
    assert rs.primary("mi") == "auroc"


def test_tables_aggregate_seeds_and_mark_missing(grid_runs, tmp_path):
    from bench.report import build_report

    build_report(grid_runs["uri"], EXPERIMENT, tmp_path, figures=False, n_boot=100)
    md = (tmp_path / "tables" / "leaderboard_mi.md").read_text()
    csv = pd.read_csv(tmp_path / "tables" / "leaderboard_mi.csv")
    truth = grid_runs["truth"]
    for rep, _, _, model, *_ in PAIRS:
        vals = [a for (r, m, s), (_, a) in truth.items() if (r, m) == (rep, model)]
        row = csv[(csv["representation"] == rep) & (csv["model"] == model)].iloc[0]
        assert math.isclose(float(row["test/auroc"]), np.mean(vals), rel_tol=1e-5)
        assert int(row["n_seeds"]) == len(vals)
    assert "| image@128 | resnet2d |" in md and "2/3 (incomplete)" in md
    # rows are ordered best first
    order = csv["test/auroc"].astype(float).to_list()
    assert order == sorted(order, reverse=True)
    tex = (tmp_path / "tables" / "leaderboard_mi.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "image@128" in tex
    assert not re.search(r"[^\\]_", tex.split("\\begin{tabular}")[1]), "unescaped underscore in LaTeX body"
    gap = pd.read_csv(tmp_path / "tables" / "oracle_gap.csv")
    assert (gap["oracle_gap_full"].astype(float) < 0).all()  # the oracle knows the true risk
    # each oracle's value is its own columns' AUROC (the two are not mixed), each gap is to its own oracle
    test = grid_runs["test"]
    assert np.allclose(gap["oracle_waveform_value"], roc_auc_score(test["mi"], grid_runs["waveform"]))
    assert np.allclose(gap["oracle_full_value"], roc_auc_score(test["mi"], _sigmoid(2.5 * test["latent"] - 1.5)))
    assert np.allclose(gap["oracle_gap"], gap["model_value"] - gap["oracle_waveform_value"], atol=2e-6)  # CSV: 6 digits
    assert np.allclose(gap["oracle_gap_full"], gap["model_value"] - gap["oracle_full_value"], atol=2e-6)


def test_missing_cells_are_never_blank(grid_runs, tmp_path):
    from bench.report import build_report

    client = client_for(grid_runs["uri"])
    exp = client.get_experiment_by_name(EXPERIMENT).experiment_id
    # a pair that only ever failed: every column of its row must read 'missing'
    run = client.create_run(exp, tags={"cell_key": "k-fail", "task": "mi", "representation": "raw",
                                       "model": "dilated", "seed": "0", "grid": "tbl"})
    log_params(client, run.info.run_id, {"task.name": "mi", "representation.name": "tbl_matrix_test",
                                         "model.name": "dilated_resnet1d"})
    client.set_terminated(run.info.run_id, "FAILED")
    # an image size whose only run failed: the twin comparison still names it (and its depth), values missing
    run2 = client.create_run(exp, tags={"cell_key": "k-fail2", "task": "mi", "representation": "image@256",
                                        "model": "resnet2d", "seed": "0", "grid": "tbl"})
    log_params(client, run2.info.run_id, {"task.name": "mi", "representation.name": "tbl_image_test",
                                          "model.name": "resnet2d", "model.params.depth": 18,
                                          "representation.params.width": 256})
    client.set_terminated(run2.info.run_id, "FAILED")
    try:
        build_report(grid_runs["uri"], EXPERIMENT, tmp_path, figures=False, n_boot=50)
    finally:
        client.delete_run(run.info.run_id)
        client.delete_run(run2.info.run_id)
    mvi = (tmp_path / "tables" / "matrix_vs_image.md").read_text()
    row = next(line for line in mvi.splitlines() if "image@256 / resnet2d" in line)
    assert "depth 18" in row and "raw / resnet1d" in row and row.count("missing") >= 8
    for p in (tmp_path / "tables").glob("*.md"):
        for line in p.read_text().splitlines():
            if line.startswith("|"):
                assert "||" not in line.replace(" ", ""), f"blank cell in {p.name}: {line}"
                assert "|nan|" not in line.replace(" ", "").lower(), f"NaN cell in {p.name}: {line}"
    md = (tmp_path / "tables" / "leaderboard_mi.md").read_text()
    row = next(line for line in md.splitlines() if "| dilated |" in line)
    assert row.count("missing") >= 3
    comp = (tmp_path / "tables" / "compute.csv").read_text()
    assert "raw,dilated,0,missing" in comp


def test_tables_are_byte_identical(grid_runs, tmp_path):
    from bench.report import build_report

    a, b = tmp_path / "a", tmp_path / "b"
    build_report(grid_runs["uri"], EXPERIMENT, a, figures=False, n_boot=50)
    build_report(grid_runs["uri"], EXPERIMENT, b, figures=False, n_boot=50)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_matrix_vs_image_is_paired_on_predictions(grid_runs, tmp_path):
    """The difference is recomputed from both runs' predictions, seed by seed, on the seeds both finished; 'best' is
    chosen on the validation metric; p-values are Holm-adjusted over the table."""
    from bench.base.metrics.clustered_auc import clustered_auc_test
    from bench.report import build_report
    from bench.report.multiplicity import holm

    build_report(grid_runs["uri"], EXPERIMENT, tmp_path, figures=False, n_boot=100)
    mvi = pd.read_csv(tmp_path / "tables" / "matrix_vs_image.csv", dtype={"seeds": str})
    truth, test = grid_runs["truth"], grid_runs["test"]
    twins = mvi[mvi["comparison"] == "resnet2d vs resnet1d, depth 18"]
    twin = twins[(twins["image"] == "image@128 / resnet2d") & (twins["matrix"] == "raw / resnet1d")].iloc[0]
    assert twin["seeds"] == "0,1"  # seed 2 of image@128 failed: not paired
    expect = np.mean([truth[("image@128", "resnet2d", s)][1] - truth[("raw", "resnet1d", s)][1] for s in (0, 1)])
    assert math.isclose(float(twin["diff"]), expect, rel_tol=1e-5)
    assert float(twin["diff_lo"]) < float(twin["diff"]) < float(twin["diff_hi"])
    # the patient-clustered AUROC test on each seed's predictions, the largest p reported
    client = client_for(grid_runs["uri"])
    ps = []
    for s in (0, 1):
        preds = []
        for rep, model in (("image@128", "resnet2d"), ("raw", "resnet1d")):
            path = client.download_artifacts(truth[(rep, model, s)][0], "predictions.csv", str(tmp_path))
            preds.append(pd.read_csv(path, dtype={"ecg_id": str}).set_index("ecg_id").loc[test["ecg_id"]])
        ps.append(clustered_auc_test(test["mi"].to_numpy(), preds[0]["score_score"], preds[1]["score_score"],
                                     test["patient_id"].to_numpy()).p)
    assert math.isclose(float(twin["p_clustered"]), max(ps), rel_tol=1e-5)
    # best = best mean validation metric over the seeds each cell finished, not the best test metric
    best = mvi[mvi["comparison"] == "best image vs best matrix"].iloc[0]
    val = {}
    for rep, _, _, model, *_ in PAIRS:
        seeds = [s for (r, m, s) in truth if (r, m) == (rep, model)]
        val[f"{rep} / {model}"] = np.mean([_val_auroc(rep, model, s) for s in seeds])
    lb = pd.read_csv(tmp_path / "tables" / "leaderboard_mi.csv")
    lb["pair"] = lb["representation"] + " / " + lb["model"]
    differs_from_test_choice = []
    for side, kind in (("image", "image"), ("matrix", "sequence")):
        pairs = lb.loc[lb["rep_kind"] == kind, "pair"]
        assert best[side] == max(pairs, key=val.get)
        assert math.isclose(float(best[f"{side}_val"]), val[best[side]], rel_tol=1e-5)
        test_best = lb[lb["rep_kind"] == kind].sort_values("test/auroc", ascending=False).iloc[0]["pair"]
        differs_from_test_choice.append(best[side] != test_best)
    assert all(differs_from_test_choice)  # the data make the two rules disagree: the test tells them apart
    n = {}
    for col in ("p_clustered", "p_boot"):
        expect, n[col] = holm(mvi[col].to_numpy(float))
        np.testing.assert_allclose(mvi[f"{col}_holm"].to_numpy(float), expect, rtol=1e-5)  # CSV: 6 digits
        assert n[col] == 3  # best pair + two twin pairs (image@64, image@128 against raw / resnet1d)
    md = (tmp_path / "tables" / "matrix_vs_image.md").read_text()
    assert f"(3 clustered AUROC p-values, 3 bootstrap p-values adjusted" in md
    assert "validation primary metric" in md
    # flops ratio from the logged compute of the two models
    assert math.isclose(float(twin["flops_ratio"]), 7.5 / 0.9, rel_tol=1e-6)


def test_tables_command(grid_runs, tmp_path, capsys):
    from bench.cli import main

    out = tmp_path / "report"
    code = main(["tables", "--results", str(grid_runs["results"]), "--experiment", EXPERIMENT, "--out", str(out),
                 "--no-figures", "--n-boot", "30"])
    assert code == 0
    names = sorted(p.name for p in (out / "tables").iterdir())
    stems = {"leaderboard_mi", "compute", "matrix_vs_image", "oracle_gap", "resolution_sweep"}
    assert names == sorted(f"{s}.{e}" for s in stems for e in ("md", "tex", "csv"))
    assert "Bootstrap p" in (out / "tables" / "matrix_vs_image.md").read_text()
    # no store: a clear error naming it, nothing created
    empty = tmp_path / "empty"
    assert main(["tables", "--results", str(empty), "--no-figures"]) == 2
    assert "no MLflow store" in capsys.readouterr().err and not empty.exists()


def test_train_time_ratio_comes_from_bench_timing_when_measured(grid_runs, tmp_path):
    """With `timing.csv` in the output folder the pair's ratio is the one measured in one process; a pair it did
    not time keeps the ratio of the runs' wall times, named as such."""
    from bench.report import build_report

    pd.DataFrame([{"task": "mi", "image": "image@128 / resnet2d", "matrix": "raw / resnet1d",
                   "image_ms_per_ecg": 6.0, "matrix_ms_per_ecg": 2.0, "ratio": 2.9, "ratio_min": 2.5,
                   "ratio_max": 3.4, "repeats": 5, "steps": 4, "n_ecgs": 64, "device": "cpu"}]
                 ).to_csv(tmp_path / "timing.csv", index=False)
    build_report(grid_runs["uri"], EXPERIMENT, tmp_path, figures=False, n_boot=30)
    mvi = pd.read_csv(tmp_path / "tables" / "matrix_vs_image.csv", na_values=["missing"])
    md = (tmp_path / "tables" / "matrix_vs_image.md").read_text()
    timed = mvi[(mvi["image"] == "image@128 / resnet2d") & (mvi["matrix"] == "raw / resnet1d")]
    assert (timed["train_time_ratio_same_process"] == 2.9).all()
    assert "2.90× [2.50, 3.40] (same process)" in md
    other = mvi[mvi["image"] == "image@64 / resnet2d"].iloc[0]
    assert pd.isna(other["train_time_ratio_same_process"])
    across = float(other["train_time_ratio_across_runs"])
    assert f"{across:.1f}× (across runs)" in md
    # a timing.csv that is not bench timing's: one line naming the file and what it lacks, no table written
    (tmp_path / "bad").mkdir()
    pd.DataFrame({"task": ["mi"], "speedup": [2.0]}).to_csv(tmp_path / "bad" / "timing.csv", index=False)
    with pytest.raises(ReportError, match=r"bad/timing.csv: no column image, matrix, ratio, ratio_max, ratio_min"):
        build_report(grid_runs["uri"], EXPERIMENT, tmp_path / "bad", figures=False, n_boot=30)
    assert not (tmp_path / "bad" / "tables").exists()


def test_best_models_without_a_validation_metric_are_named_missing_with_the_reason(grid_runs):
    """Runs whose validation split held one class log no validation AUROC: no 'best' is chosen (never falling back
    to the test metric) and the table says why; fixed twin pairs are unaffected."""
    from bench.report.aggregate import aggregate
    from bench.report.comparison import matrix_vs_image

    rs = load_runs(grid_runs["uri"], EXPERIMENT)
    agg = aggregate(rs, ["test/auroc", "val/best_auroc", "compute/flops_per_ecg", "compute/train_s"])
    agg["val/best_auroc"] = np.nan
    table = matrix_vs_image(rs, agg, n_boot=20)
    best = table.display[table.display["Comparison"] == "best image vs best matrix"].iloc[0]
    assert best["Image"] == best["Matrix"] == "missing (no val/best_auroc logged)"
    twins = table.display[table.display["Comparison"] != "best image vs best matrix"]
    assert set(twins["Matrix"]) == {"raw / resnet1d"} and (twins["Image value"] != "missing").all()


def test_every_table_states_the_commits_that_trained_its_runs(grid_runs, tmp_path):
    from bench.report import build_report

    build_report(grid_runs["uri"], EXPERIMENT, tmp_path, figures=False, n_boot=20)
    n_tagged = sum(seed < 2 for (_, _, seed) in grid_runs["truth"])
    n_old = len(grid_runs["truth"]) - n_tagged
    line = f"Trained at: commit 0123abc ({n_tagged} runs), commit not recorded ({n_old} runs)."
    tables = sorted((tmp_path / "tables").glob("*.md"))
    assert tables
    for md in tables:
        assert line in md.read_text(), md.name
        assert "0123abc" in md.with_suffix(".tex").read_text(), md.name
