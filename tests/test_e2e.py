"""End to end: grids run into MLflow, resume, failure isolation, `list`, the CLI."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.cli import main as cli_main
from bench.harness.driver import run_grid
from bench.harness.grid import load_grid
from bench.harness.tracking import client_for, default_tracking_uri
from models.base import MODELS, register_model

from _grids import grid_toml, lvef_grid  # noqa: E402 - tests/ is on sys.path under pytest

REPO = Path(__file__).resolve().parents[1]

GRID = lvef_grid("e2e", epochs=2, n_boot=50, gradcam_ecgs=1)


def _write_grid(tmp_path: Path, text: str = GRID, extra_models: str = "") -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(text + extra_models)
    return p


def _runs(results: Path, experiment: str = "repbench-e2e"):
    client = client_for(default_tracking_uri(results))
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []


@pytest.fixture
def failing_model():
    """A model whose forward raises: the cell must end FAILED with its traceback, and the grid go on."""

    class Exploding(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Linear(1, 1)

        def forward(self, x):
            raise RuntimeError("planted failure in forward")

    @register_model("exploding_test_model", accepts=("sequence",))
    def build(input_shape, heads, **params):
        return Exploding()

    yield "exploding_test_model"
    MODELS.unregister("exploding_test_model")


@pytest.mark.slow
def test_grid_runs_resumes_and_isolates_failures(tmp_path, failing_model):
    results, cache = tmp_path / "results", tmp_path / "cache"
    grid_path = _write_grid(tmp_path, extra_models=f'[[models]]\nname = "{failing_model}"\n')
    grid = load_grid(str(grid_path))
    cells, skipped = grid.expand()
    # raw feeds cnn1d and the failing model; dwt_pca feeds mlp; the other pairs are incompatible
    assert {(c.representation.id, c.model.id) for c in cells} == {
        ("raw", "cnn1d"), ("raw", failing_model), ("dwt_pca", "mlp")}
    assert len(skipped) == 3 and all("accepts" in s.reason for s in skipped)

    uri = default_tracking_uri(results)
    out = io.StringIO()
    code = run_grid(grid, tracking_uri=uri, results_dir=results, cache_dir=cache, progress=False, out=out)
    assert code == 1, out.getvalue()  # one cell failed
    runs = _runs(results)
    assert len(runs) == 3
    by_model = {r.data.tags["model"]: r for r in runs}
    bad = by_model[failing_model]
    assert bad.info.status == "FAILED"
    assert "planted failure in forward" in bad.data.tags["status_reason"]
    client = client_for(uri)
    tb = Path(client.download_artifacts(bad.info.run_id, "traceback.txt", str(tmp_path)))
    assert "RuntimeError: planted failure in forward" in tb.read_text()
    for m in ("cnn1d", "mlp"):
        r = by_model[m]
        assert r.info.status == "FINISHED"
        for k in ("test/auroc", "test/auroc_lo", "test/auroc_hi", "compute/train_s", "compute/peak_rss_mb",
                  "compute/params", "compute/flops_per_ecg", "compute/infer_ms_per_ecg",
                  "compute/repr_ms_per_ecg", "compute/repr_bytes_per_ecg", "oracle/auroc"):
            assert k in r.data.metrics, (m, k)
        assert "compute/gpu_s" not in r.data.metrics  # CPU run: no GPU figures
        assert 0.0 <= r.data.metrics["test/auroc"] <= 1.0
        assert r.data.params["model.name"] == f'"{m}"' and r.data.params["train.lr"] == "0.0003"  # JSON text
        hist = client.get_metric_history(r.info.run_id, "val/loss")
        assert [h.step for h in hist] == [0, 1]
        arts = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"predictions.csv", "quarantine.csv", "split.json"} <= arts
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0:  # run from a git checkout: the run names the commit that trained it
            assert r.data.tags["mlflow.source.git.commit"] == head.stdout.strip()
            assert r.data.tags["code_dirty"] in ("true", "false")
    assert "FAILED" in out.getvalue() and "cnn1d" in out.getvalue()

    # second invocation: finished cells skipped, only the failed one is tried again
    out2 = io.StringIO()
    run_grid(grid, tracking_uri=uri, results_dir=results, cache_dir=cache, progress=False, out=out2)
    runs2 = _runs(results)
    assert len(runs2) == 4
    assert sum(r.data.tags["model"] == failing_model for r in runs2) == 2
    assert "2 done, 1 to run" in out2.getvalue()

    # list shows the statuses, in JSON for scripts
    buf = io.StringIO()
    sys_stdout, sys.stdout = sys.stdout, buf
    try:
        assert cli_main(["list", "--grid", str(grid_path), "--results", str(results), "--json"]) == 0
    finally:
        sys.stdout = sys_stdout
    listing = json.loads(buf.getvalue())
    status = {c["model"]: c["status"] for c in listing["cells"]}
    assert status == {"cnn1d": "done", "mlp": "done", failing_model: "failed"}
    assert len(listing["skipped"]) == 3
    assert all(c["cell"] == f"{c['task']}/{c['representation']}/{c['model']}/s{c['seed']}" for c in listing["cells"])
    assert {"lvef"} <= {t["name"] for t in listing["tasks"]}


@pytest.mark.slow
def test_killed_run_completes_only_missing_cells(tmp_path):
    """Kill `run` after the first cell, run again: only the missing cells run; the orphan is closed KILLED."""
    # two cells of a few seconds each, so the second is still training when the first has finished (the grid's
    # preparation leaves a cell little besides training: a sub-second cell could finish before the kill)
    results = tmp_path / "results"
    grid_path = _write_grid(tmp_path, grid_toml("e2e", "synthetic:90,seed=5", seeds=(0, 1), epochs=4, n_boot=50,
                                                tasks=["lvef"], representations=["raw"], models=["cnn1d"]))
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "bench", "run", "--grid", str(grid_path), "--results", str(results), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:  # the child may still be creating the database tables, or hold the write lock
            if (results / "mlflow.db").exists() and any(r.info.status == "FINISHED" for r in _runs(results)):
                break
        except Exception:  # noqa: BLE001 - polling: try again in a moment
            pass
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be killed: {proc.stdout.read().decode()}")
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _runs(results)
    finished_before = {r.data.tags["cell_key"] for r in before if r.info.status == "FINISHED"}
    assert 1 <= len(finished_before) < 2

    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    after = _runs(results)
    finished = [r for r in after if r.info.status == "FINISHED"]
    assert len(finished) == 2 and len({r.data.tags["cell_key"] for r in finished}) == 2
    assert all(r.info.status in ("FINISHED", "KILLED") for r in after)
    assert "1 done, 1 to run" in done.stdout


def test_cli_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
    for cmd in ("run", "list", "ui"):
        assert cmd in out.stdout
    out = subprocess.run([sys.executable, "-m", "bench", "run", "--help"], capture_output=True, text=True, cwd=REPO)
    for flag in ("--grid", "--tracking-uri", "--results", "--device", "--rerun", "--max-cells", "--executor",
                 "--ray-address", "--workers", "--max-retries"):
        assert flag in out.stdout
    wrong = subprocess.run([sys.executable, "-m", "bench", "run", "--grid", "smoke", "--max-retries", "1"],
                           capture_output=True, text=True, cwd=REPO)
    assert wrong.returncode != 0 and "go with --executor ray" in wrong.stderr


def test_unknown_grid_and_entries_are_named(tmp_path):
    from bench.base.errors import GridError

    with pytest.raises(GridError, match="unknown grid 'smok'"):
        load_grid("smok")
    bad = tmp_path / "bad.toml"
    bad.write_text(GRID.replace('name = "cnn1d"', 'name = "cnn1x"'))
    with pytest.raises(GridError, match="models\\[0\\].name = \"cnn1x\": unknown model 'cnn1x'; did you mean cnn1d"):
        load_grid(str(bad))


def test_builtin_grids_expand_to_compatible_cells():
    for name in ("smoke", "small", "full", "sweep"):
        grid = load_grid(name)
        cells, skipped = grid.expand()
        assert cells, name
        from models import MODELS
        from representations import REPRESENTATIONS

        for c in cells:
            assert REPRESENTATIONS.entry(c.representation.name).info["kind"] in MODELS.entry(c.model.name).info[
                "accepts"]
        assert len({c.label for c in cells}) == len(cells)


def test_cell_key_changes_with_config_and_data():
    grid = load_grid("smoke")
    cells, _ = grid.expand()
    a, b = cells[0], cells[1]
    assert a.key("fp1") == a.key("fp1")
    assert a.key("fp1") != a.key("fp2")
    assert a.key("fp1") != b.key("fp1")
    # a new version of the cell's representation (its output changed) is a new cell
    from representations import REPRESENTATIONS

    rep = REPRESENTATIONS.get(a.representation.name)
    before, old = a.key("fp1"), rep.version
    try:
        rep.version = old + ".test"
        assert a.key("fp1") != before
    finally:
        rep.version = old
    assert a.key("fp1") == before
    # so is a new version of its task (class attribute) or of its model (registry metadata)
    from models import MODELS
    from tasks import TASKS

    task = TASKS.get(a.task.name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(task, "version", task.version + ".test")
        assert a.key("fp1") != before
    assert a.key("fp1") == before
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(MODELS.entry(a.model.name).info, "version", "test")
        assert a.key("fp1") != before
    assert a.key("fp1") == before


def test_device_auto_is_cpu_here():
    from bench.harness.compute import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.slow
def test_record_wise_split_is_explicit_tagged_and_leaks(tmp_path):
    """`record_wise_LEAKY = true` is the only way to a record-wise split: the run says so in a tag and a warning, and
    patients do land on both sides; grids without it keep patient-wise splits and their cell keys."""
    text = GRID.replace("test = 0.3\n", "test = 0.3\nrecord_wise_LEAKY = true\n").replace(
        '[[models]]\nname = "cnn1d"\n', "")
    grid = load_grid(str(_write_grid(tmp_path, text)))
    results = tmp_path / "results"
    with pytest.warns(UserWarning, match="record-wise split"):
        code = run_grid(grid, tracking_uri=default_tracking_uri(results), results_dir=results,
                        cache_dir=tmp_path / "cache", progress=False, out=io.StringIO())
    assert code == 0
    (run,) = _runs(results)
    assert run.data.tags["split"] == "record-wise-LEAKY"
    client = client_for(default_tracking_uri(results))
    split = json.loads(Path(client.download_artifacts(run.info.run_id, "split.json", str(tmp_path))).read_text())
    patient = {e: e.rsplit("_", 1)[0] for part in split.values() for e in part}
    assert {patient[e] for e in split["train"]} & {patient[e] for e in split["test"]}
    for name in ("smoke", "small", "full"):
        assert all("record_wise_LEAKY" not in c.split for c in load_grid(name).expand()[0])


@pytest.mark.slow
def test_cell_config_is_logged_as_json_and_read_back(tmp_path):
    """A real run logs `config.json` (the resolved cell config) and JSON params; the report reads a task
    parameter set to false back as False (not the truthy text 'False')."""
    from bench.report.runs import load_runs
    from bench.report.tables import _task_instance

    text = GRID.replace('name = "lvef"', 'name = "af_survival"\nparams = { one_ecg_per_patient = false }').replace(
        '[[models]]\nname = "cnn1d"\n', "").replace('[[representations]]\nname = "raw"\n', "")
    grid = load_grid(str(_write_grid(tmp_path, text)))
    (cell,) = grid.expand()[0]
    results = tmp_path / "results"
    uri = default_tracking_uri(results)
    assert run_grid(grid, tracking_uri=uri, results_dir=results, cache_dir=tmp_path / "cache", progress=False,
                    out=io.StringIO()) == 0
    (run,) = _runs(results)
    assert run.data.params["task.params.one_ecg_per_patient"] == "false"
    assert run.data.params["seed"] == "0" and run.data.params["representation.name"] == '"dwt_pca"'
    logged = json.loads(Path(client_for(uri).download_artifacts(run.info.run_id, "config.json", str(tmp_path)))
                        .read_text())
    assert logged == cell.config()
    rs = load_runs(uri, grid.experiment)
    assert rs.runs.loc[0, "task_name"] == "af_survival" and rs.runs.loc[0, "rep_name"] == "dwt_pca"
    task = _task_instance(rs, "af_survival")
    assert task.p("one_ecg_per_patient") is False
