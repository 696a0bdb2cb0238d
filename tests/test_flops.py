"""Parameter and FLOP counts: hand-worked layers, an independent per-layer count for every registered model, and
the published ResNet-18 figure."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.harness.flops import count_params, flops_per_ecg
from models import MODELS

SMALL = {"sequence": (12, 2000), "image": (3, 64, 128), "vector": (28,)}
CPU_PARAMS = {"resnet2d": {"depth": 18, "width": 0.25}, "resnet1d": {"depth": 18, "width": 0.25}}


def test_count_params_hand_worked():
    lin = nn.Linear(10, 5)
    assert count_params(lin) == 55
    lin.bias.requires_grad_(False)
    assert count_params(lin, trainable_only=True) == 50
    assert count_params(nn.Sequential(lin, lin)) == 55  # a shared layer counts once


def test_flops_hand_worked():
    assert flops_per_ecg(nn.Linear(10, 5), (10,)) == 2 * 10 * 5
    # Conv1d 12 -> 8, 5 taps, 'same' over 100 samples: 2 FLOPs per multiply-add.
    assert flops_per_ecg(nn.Conv1d(12, 8, 5, padding=2), (12, 100)) == 2 * 100 * 8 * 12 * 5
    # grouped, strided: 4 groups, 48 -> 16, 3x3, stride 2 on 10 x 20 -> 5 x 10 outputs.
    conv = nn.Conv2d(48, 16, 3, stride=2, padding=1, groups=4)
    assert flops_per_ecg(conv, (48, 10, 20)) == 2 * (5 * 10) * 16 * (48 // 4) * 9


def _layer_flops(model: nn.Module, shape) -> int:
    """Independent count: 2 x output elements x (inputs per output) for every conv and linear layer run."""
    total = []

    def hook(m, inputs, out):
        if isinstance(m, nn.Linear):
            total.append(2 * out.numel() * m.in_features)
        else:
            total.append(2 * out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size))

    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    handles = [m.register_forward_hook(hook) for m in layers]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return sum(total)


@pytest.mark.parametrize("name", MODELS.names())
def test_flops_match_an_independent_count(name):
    kind = MODELS.entry(name).info["accepts"][0]
    model = MODELS.get(name)(SMALL[kind], {"y": 1, "z": 3}, **CPU_PARAMS.get(name, {}))
    model.train()
    flops = flops_per_ecg(model, SMALL[kind])
    assert model.training, "flops_per_ecg must restore train mode"
    assert all(p.grad is None for p in model.parameters())
    assert flops == _layer_flops(model, SMALL[kind]) > 0


def test_resnet18_matches_the_published_figure():
    """timm lists resnet18 at 1.82 GMACs for 224 x 224 (3.64 GFLOPs); our heads replace its 1000-class fc."""
    model = MODELS.get("resnet2d")((3, 224, 224), {"y": 1}, depth=18)
    assert flops_per_ecg(model, (3, 224, 224)) / 1e9 == pytest.approx(2 * 1.82, rel=0.01)
    assert count_params(model) == pytest.approx(11.69e6 - 513e3, rel=0.01)  # timm's 11.69 M minus its fc
