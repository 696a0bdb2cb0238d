"""Grad-CAM: registered 1D and 2D models trained briefly to tell a planted localized feature apart peak near it;
layer choice, output contract and the PNG figures; maps made outside the cell from the stored model and ECGs equal
the maps made in the cell, and a run without a stored model is named in the montage."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bench.base.errors import ModelError
from bench.harness.gradcam import find_gradcam_layer, gradcam, save_gradcam_figures
from models import MODELS

from _grids import grid_toml  # noqa: E402 - tests/ is on sys.path under pytest


def _bump_sequences(n: int, length: int, rng: np.random.Generator):
    """Noisy 12-lead sequences with one 40 ms bump at a random time: upward for class 1, downward for class 0."""
    t = np.arange(length)
    x = 0.3 * rng.standard_normal((n, 12, length)).astype(np.float32)
    y = rng.integers(0, 2, n)
    where = rng.integers(100, length - 100, n)
    for i in range(n):
        x[i] += ((2 * y[i] - 1) * 2.0 * np.exp(-0.5 * ((t - where[i]) / 5.0) ** 2)).astype(np.float32)
    return x, y, where


def _square_images(n: int, size: int, rng: np.random.Generator):
    """Grey noisy images with one 12-pixel square: white for class 1, black for class 0."""
    x = np.clip(0.5 + 0.1 * rng.standard_normal((n, 3, size, size)), 0, 1).astype(np.float32)
    y = rng.integers(0, 2, n)
    rows, cols = rng.integers(8, size - 20, n), rng.integers(8, size - 20, n)
    for i in range(n):
        x[i, :, rows[i]:rows[i] + 12, cols[i]:cols[i] + 12] = float(y[i])
    return x, y, np.stack([rows + 6, cols + 6], 1)


def _train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 3e-3) -> float:
    """A few epochs of Adam on the 'mi' logit; returns training accuracy afterwards (eval mode)."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).float()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), generator=g).split(32):
            loss = nn.functional.binary_cross_entropy_with_logits(model(xt[idx])["mi"][:, 0], yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return float(((model(xt)["mi"][:, 0] > 0).float() == yt).float().mean())


@pytest.fixture(scope="module")
def trained_1d():
    rng = np.random.default_rng(0)
    x, y, _ = _bump_sequences(256, 500, rng)
    torch.manual_seed(0)
    model = MODELS.get("cnn1d")((12, 500), {"mi": 1}, channels=(16, 16, 32), kernel_size=9, pool=2,
                                convs_per_block=1, dense=(16,))
    acc = _train(model, x, y, epochs=4)
    assert acc > 0.9, f"precondition: the 1D model did not learn the planted bump (train accuracy {acc:.2f})"
    return model


@pytest.fixture(scope="module")
def trained_2d():
    rng = np.random.default_rng(1)
    x, y, _ = _square_images(192, 64, rng)
    torch.manual_seed(0)
    model = MODELS.get("resnet2d")((3, 64, 64), {"mi": 1}, depth=18, width=0.25)
    acc = _train(model, x, y, epochs=3)
    assert acc > 0.9, f"precondition: the 2D model did not learn the planted square (train accuracy {acc:.2f})"
    return model


def test_1d_map_peaks_at_the_planted_bump(trained_1d):
    x, y, where = _bump_sequences(24, 500, np.random.default_rng(10))
    pos = y == 1
    trained_1d.zero_grad(set_to_none=True)
    maps = gradcam(trained_1d, x[pos], "mi")  # one-unit head: the logit of class 1
    assert maps.shape == (int(pos.sum()), 500) and maps.min() >= 0 and maps.max() == pytest.approx(1)
    err = np.abs(maps.argmax(1) - where[pos])
    assert np.mean(err <= 15) >= 0.8, f"peak-to-bump distances (samples): {sorted(err.tolist())}"
    assert not trained_1d.training and all(p.grad is None for p in trained_1d.parameters())


def test_2d_map_peaks_at_the_planted_square(trained_2d):
    """At 64 x 64 the last stage is 2 x 2, so the model declares the stage before (4 x 4 cells of 16 pixels)."""
    assert trained_2d.gradcam_layer == "backbone.body.layer3"
    x, y, centre = _square_images(24, 64, np.random.default_rng(11))
    pos = y == 1
    maps = gradcam(trained_2d, x[pos], "mi")
    assert maps.shape == (int(pos.sum()), 64, 64)
    peak = np.stack(np.unravel_index(maps.reshape(len(maps), -1).argmax(1), (64, 64)), 1)
    err = np.abs(peak - centre[pos]).max(1)
    assert np.mean(err <= 16) >= 0.8, f"peak-to-square distances (pixels): {sorted(err.tolist())}"
    assert gradcam(trained_2d, x[pos][:2], "mi", layer="backbone.body.layer4").shape == (2, 64, 64)


def test_layer_choice():
    model = MODELS.get("cnn1d")((12, 1000), {"mi": 1}, channels=(8, 8, 8), pool=2)
    assert find_gradcam_layer(model) is model.get_submodule(model.gradcam_layer)
    last_conv = model.backbone.features.block3.convs[3]
    assert find_gradcam_layer(model, layer="backbone.features.block3.convs.3") is last_conv
    model.gradcam_layer = None  # undeclared: the last convolution the forward pass runs
    assert find_gradcam_layer(model, torch.zeros(1, 12, 1000)) is last_conv
    with pytest.raises(ModelError, match="no layer 'backbone.nope'"):
        gradcam(model, np.zeros((1, 12, 1000), np.float32), "mi", layer="backbone.nope")
    with pytest.raises(ModelError, match="no Conv1d/Conv2d"):
        gradcam(MODELS.get("mlp")((28,), {"mi": 1}), np.zeros((2, 28), np.float32), "mi")


def test_figures_are_written(tmp_path, trained_1d, trained_2d):
    x, _, _ = _bump_sequences(2, 500, np.random.default_rng(3))
    paths = save_gradcam_figures(trained_1d, x, ["ecg/1", "ecg 2"], "mi", tmp_path / "seq", "sequence")
    assert [p.name for p in paths] == ["gradcam_mi_ecg_1.png", "gradcam_mi_ecg_2.png"]
    img, _, _ = _square_images(2, 64, np.random.default_rng(4))
    paths += save_gradcam_figures(trained_2d, (img * 255).astype(np.uint8), [7, 8], "mi", tmp_path / "img", "image")
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    with pytest.raises(ValueError, match="2 inputs"):
        save_gradcam_figures(trained_1d, x, ["only one"], "mi", tmp_path, "sequence")
    with pytest.raises(ValueError, match="kind"):
        save_gradcam_figures(trained_1d, x, ["a", "b"], "mi", tmp_path, "vector")


def test_gradcam_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = MODELS.get("cnn1d")((12, 500), {"mi": 1, "territory": 6}, channels=(8, 8), pool=2)
    model.gradcam_layer = None  # the layer search runs a forward pass too
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = np.random.default_rng(0).standard_normal((4, 12, 500)).astype(np.float32)
    maps = gradcam(model, x, "territory", target_index=[0, 1, 2, 5])
    assert maps.shape == (4, 500)
    np.testing.assert_allclose(gradcam(model, x, "mi"), gradcam(model, x, "mi", target_index=lambda o: o[:, 0]))
    assert gradcam(model, x, "territory", target_index=lambda o: -o.sum(1)).shape == (4, 500)
    assert model.training and all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0, msg=k)  # BatchNorm statistics untouched


def _run_stored_grid(tmp_path, monkeypatch, log_model: bool):
    """Run the grid with the local executor; for each cell, capture the Grad-CAM maps and PNGs computed in the cell
    as the runner did before they left it (trained model, cached test inputs, the task's target)."""
    import io

    from bench.harness import runner
    from bench.harness.driver import run_grid
    from bench.harness.grid import load_grid
    from bench.harness.tracking import default_tracking_uri
    from bench.harness.train import as_input, read_rows

    in_cell = {}
    log_data_and_model = runner.log_data_and_model

    def spy(cell, ctx, data, inputs, model, log):
        part = data.parts["test"]
        x = as_input(read_rows(inputs.features, part.rows[:2]), next(model.parameters()).device)
        head, target = data.task.gradcam_target()
        ids = part.records["ecg_id"].astype(str).iloc[:2].tolist()
        pngs = save_gradcam_figures(model, x, ids, head, tmp_path / "in-cell" / cell.label, inputs.rep.kind,
                                    target_index=target)
        in_cell[cell.label] = (ids, x.cpu().numpy(), gradcam(model, x, head, target_index=target), pngs)
        return log_data_and_model(cell, ctx, data, inputs, model, log)

    monkeypatch.setattr(runner, "log_data_and_model", spy)
    grid_path = tmp_path / "grid.toml"
    grid_path.write_text(grid_toml("gradcam-stored", "synthetic:60,seed=1", gradcam_ecgs=2,
                                   eval={"clinical": False, "log_model": log_model}, tasks=["mi"],
                                   representations=["raw", ("image", "image@64", {"width": 64})],
                                   models=[("cnn1d", None, {"channels": [8, 8], "pool": 2}),
                                           ("resnet2d", None, {"depth": 18, "width": 0.25})]))
    uri = default_tracking_uri(tmp_path / "results")
    assert run_grid(load_grid(str(grid_path)), tracking_uri=uri, results_dir=tmp_path / "results",
                    cache_dir=tmp_path / "cache", progress=False, out=io.StringIO()) == 0
    return uri, in_cell


@pytest.mark.slow
def test_maps_from_the_stored_model_are_the_in_cell_maps(tmp_path, monkeypatch):
    """The cell stores ECGs, not maps; maps made later from the stored model and ECGs equal those the cell would
    have made (same inputs, same maps, same PNG bytes), and are logged to the run once for the montage."""
    from mlflow import MlflowClient

    from bench.harness.gradcam import log_run_gradcam, stored_gradcam_inputs
    from bench.report.figures import gradcam_tiles
    from bench.report.runs import load_runs

    uri, in_cell = _run_stored_grid(tmp_path, monkeypatch, log_model=True)
    assert sorted(in_cell) == ["mi/image@64/resnet2d/s0", "mi/raw/cnn1d/s0"]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("repbench-gradcam-stored").experiment_id])
    for run in runs:
        ids, x_cell, maps_cell, pngs_cell = in_cell[run.info.run_name]
        rid = run.info.run_id
        assert [a.path for a in client.list_artifacts(rid, "gradcam")] == ["gradcam/ecgs.npz"]  # no maps in the cell
        stored_model, stored_ids, x = stored_gradcam_inputs(client, rid, tmp_path / rid)
        assert stored_ids == ids
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x
        np.testing.assert_array_equal(x, x_cell)
        head, target = stored_model.task.gradcam_target()
        np.testing.assert_array_equal(gradcam(stored_model.network, x, head, target_index=target), maps_cell)
        logged = log_run_gradcam(client, rid)
        assert logged == [f"gradcam/{p.name}" for p in pngs_cell]
        for path, p in zip(logged, pngs_cell):
            assert open(client.download_artifacts(rid, path, str(tmp_path / rid)), "rb").read() == p.read_bytes()
    tiles, missing = gradcam_tiles(load_runs(uri, "repbench-gradcam-stored"))
    assert [t for t, _ in tiles] == ["mi: image@64 / resnet2d (seed 0)", "mi: raw / cnn1d (seed 0)"]
    assert missing == []


@pytest.mark.slow
def test_montage_names_runs_without_a_stored_model(tmp_path, monkeypatch):
    from bench.report.figures import gradcam_montage, gradcam_tiles
    from bench.report.runs import load_runs

    uri, _ = _run_stored_grid(tmp_path, monkeypatch, log_model=False)
    rs = load_runs(uri, "repbench-gradcam-stored")
    tiles, missing = gradcam_tiles(rs)
    assert tiles == []
    assert len(missing) == 2 and all("log_model = false" in m for m in missing), missing
    assert [p.suffix for p in gradcam_montage(rs, tmp_path / "figures")] == [".png", ".pdf"]
