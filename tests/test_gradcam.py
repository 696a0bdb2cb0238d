"""Grad-CAM: registered 1D and 2D models trained briefly to tell a planted localized feature apart peak near it;
layer choice, output contract and the PNG figures."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bench.base.errors import ModelError
from bench.harness.gradcam import find_gradcam_layer, gradcam, save_gradcam_figures
from models import MODELS


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
