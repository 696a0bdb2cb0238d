"""Ray executor: cells as Ray tasks on a local Ray instance, tracked through a local `mlflow server`; a worker that
dies mid-cell comes back FAILED with 'worker died', never lost; a SQLite store with parallel workers is refused."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from bench.harness.driver import run_grid  # noqa: E402
from bench.base.errors import ExecutorError  # noqa: E402
from bench.harness.grid import AxisEntry, Cell, load_grid  # noqa: E402
from bench.harness.runner import RunContext  # noqa: E402
from bench.harness.tracking import client_for  # noqa: E402

from _grids import lvef_grid  # noqa: E402 - tests/ is on sys.path under pytest

DYING = "dying_worker_test_model"
GRID = lvef_grid("raytest", epochs=1, n_boot=20, gradcam_ecgs=0, num_threads=1, models=("cnn1d", "mlp", DYING))


def register_dying_model() -> None:
    """A model whose forward kills its process (as the OOM killer or a segfault would). Runs in the driver and,
    pickled by value, in every Ray worker."""
    from torch import nn

    from models.base import MODELS, register_model

    if DYING in MODELS:
        return

    class Dying(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Linear(1, 1)

        def forward(self, x):
            if x.shape[0] > 1:  # the FLOP count (batch of 1) passes; training kills the worker
                os._exit(3)
            return {"lvef": self.w(x.reshape(1, -1)[:, :1])}

    register_model(DYING, accepts=("sequence",))(lambda input_shape, heads, **params: Dying())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` on 127.0.0.1 with a SQLite backend and proxied artifacts (answers after ~12 s)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "art"),
           "--workers", "1"]
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not answer within 90 s")
    yield uri
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def local_ray():
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_grid_isolates_a_dead_worker_and_resumes(tmp_path, mlflow_server, local_ray):
    register_dying_model()
    grid_path = tmp_path / "grid.toml"
    grid_path.write_text(GRID)
    grid = load_grid(str(grid_path))
    results, cache = tmp_path / "results", tmp_path / "cache"
    opts = {"worker_setup": register_dying_model, "max_retries": 0}
    out = io.StringIO()
    code = run_grid(grid, tracking_uri=mlflow_server, results_dir=results, cache_dir=cache, executor="ray",
                    executor_options=opts, progress=False, out=out)
    assert code == 1, out.getvalue()
    client = client_for(mlflow_server)
    exp = client.get_experiment_by_name("repbench-raytest")
    runs = client.search_runs([exp.experiment_id])
    by_model = {r.data.tags["model"]: r for r in runs}
    assert set(by_model) == {"cnn1d", "mlp", DYING}, out.getvalue()
    dead = by_model[DYING]
    assert dead.info.status == "FAILED"
    assert dead.data.tags["status_reason"].startswith("worker died")
    assert "worker died" in out.getvalue()
    for m in ("cnn1d", "mlp"):
        assert by_model[m].info.status == "FINISHED"
        assert "test/auroc" in by_model[m].data.metrics
        arts = {a.path for a in client.list_artifacts(by_model[m].info.run_id)}
        assert "predictions.csv" in arts  # artifacts went through the server

    # resume with one retry: the finished cells are skipped; the dead cell is tried again, Ray retries it once
    # when its worker dies again, then it comes back FAILED; no attempt is left RUNNING
    out2 = io.StringIO()
    run_grid(grid, tracking_uri=mlflow_server, results_dir=results, cache_dir=cache, executor="ray",
             executor_options={**opts, "max_retries": 1}, progress=False, out=out2)
    assert "2 done, 1 to run" in out2.getvalue()
    runs2 = client.search_runs([exp.experiment_id])
    dead2 = [r for r in runs2 if r.data.tags["model"] == DYING]
    assert len(dead2) == 3  # first invocation + two attempts
    assert all(r.info.status == "FAILED" and r.data.tags["status_reason"].startswith("worker died") for r in dead2)
    assert any("after 1 retries" in r.data.tags["status_reason"] for r in dead2)
    assert sum(r.info.status == "FINISHED" for r in runs2) == 2

    # the local executor on the same grid (less the dying model) gives the same FINISHED cells with the same metrics
    local_grid = tmp_path / "local.toml"
    local_grid.write_text(GRID.replace(f'[[models]]\nname = "{DYING}"\n', ""))
    local_results = tmp_path / "local-results"
    local_uri = f"sqlite:///{local_results / 'mlflow.db'}"
    assert run_grid(load_grid(str(local_grid)), tracking_uri=local_uri, results_dir=local_results, cache_dir=cache,
                    progress=False, out=io.StringIO()) == 0
    lclient = client_for(local_uri)
    local_runs = lclient.search_runs([lclient.get_experiment_by_name("repbench-raytest").experiment_id])
    ray_done = {r.data.tags["cell_key"]: r for r in runs2 if r.info.status == "FINISHED"}
    local_done = {r.data.tags["cell_key"]: r for r in local_runs if r.info.status == "FINISHED"}
    assert set(ray_done) == set(local_done) and len(local_done) == 2
    for k, r in local_done.items():
        assert ray_done[k].data.metrics["test/auroc"] == pytest.approx(r.data.metrics["test/auroc"], abs=1e-6)
        assert ray_done[k].data.metrics["test/brier"] == pytest.approx(r.data.metrics["test/brier"], abs=1e-6)


def _cells(n: int) -> list[Cell]:
    e = AxisEntry
    return [Cell("g", "synthetic:10", e("lvef"), e("raw"), e("cnn1d"), s, {"num_threads": 1}, {}, {})
            for s in range(n)]


def test_ray_refuses_sqlite_with_parallel_workers(tmp_path, local_ray):
    from bench.harness.executors.ray import RayExecutor

    ctx = RunContext(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment_id="1",
                     results_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ExecutorError, match="(?s)database is locked.*mlflow server.*one cell at a time"):
        RayExecutor().run(_cells(3), ctx, on_start=lambda c: None, on_done=lambda c, r: None)
    with pytest.raises(ExecutorError, match="mlflow server"):
        RayExecutor(workers=2).run(_cells(3), ctx, on_start=lambda c: None, on_done=lambda c, r: None)
    assert not (tmp_path / "mlflow.db").exists()  # refused before any cell touched the store


def test_ray_resources_follow_the_cell(local_ray):
    from bench.harness.executors.ray import RayExecutor

    ex = RayExecutor()
    cell = _cells(1)[0]
    assert ex._resources(cell, use_gpu=False) == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert ex._resources(cell, use_gpu=True) == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert ex._concurrency(_cells(5), False, {"CPU": 2.0}) == 2
    assert ex._concurrency(_cells(5), True, {"CPU": 8.0, "GPU": 3.0}) == 3
    assert RayExecutor(workers=4)._concurrency(_cells(2), False, {"CPU": 8.0}) == 2
