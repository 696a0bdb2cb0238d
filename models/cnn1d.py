"""ECG-AI (Khurshid et al., Circulation 2022): a 1D CNN on the 12 x 5000 waveform with a multi-task head.

Conv1D + MaxPooling1D blocks, then dense layers on the flattened convolved waveform only (no clinical covariates:
that is what makes it ECG-AI rather than CH-AI). The paper's heads (25-interval survival, age, sex,
AF-in-statement) come from the task's `heads`, so the same network serves any task.
"""
from __future__ import annotations

from torch import nn

from bench.base.errors import ModelError
from models.base import register_model
from models._contract import ECG_MV_STD, InputContract, InputScale, check_input_shape
from models._heads import MultiHeadModel


class ConvPoolBlock(nn.Module):
    """`n_convs` x (Conv1d, length-preserving -> BatchNorm -> ReLU), then MaxPool1d(pool)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, n_convs: int, pool: int):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(n_convs):
            layers += [nn.Conv1d(c_in if i == 0 else c_out, c_out, kernel_size, padding=kernel_size // 2, bias=False),
                       nn.BatchNorm1d(c_out), nn.ReLU()]
        self.convs = nn.Sequential(*layers)
        self.pool = nn.MaxPool1d(pool)

    def forward(self, x):
        return self.pool(self.convs(x))


@register_model("cnn1d", accepts=("sequence",), version="2")  # 2: input / ECG_MV_STD
def cnn1d(input_shape, heads, *, channels=(32, 32, 64, 64, 128), kernel_size: int = 15, convs_per_block: int = 2,
          pool: int = 4, dense=(64, 32), dropout: float = 0.2) -> nn.Module:
    """ECG-AI 1D CNN: len(channels) conv+pool blocks, flatten, dense layers, then one Linear per head.

    The flattened size depends on the input length, so the network is built for `input_shape` (C, T); an input
    too short for the pooling stack raises ModelError.
    """
    _, shape = check_input_shape("cnn1d", input_shape, ("sequence",))
    n_leads, length = shape
    if kernel_size % 2 != 1:
        raise ModelError(f"model 'cnn1d': kernel_size must be odd (centred 'same' padding), got {kernel_size}")
    blocks = nn.Sequential()
    c_in = n_leads
    for i, c_out in enumerate(channels):
        blocks.add_module(f"block{i + 1}", ConvPoolBlock(c_in, int(c_out), kernel_size, convs_per_block, pool))
        c_in = int(c_out)
        length //= pool
        if length < 1:
            raise ModelError(f"model 'cnn1d': input length {shape[1]} is too short for {len(channels)} "
                             f"pooling blocks of {pool}")
    dense_layers: list[nn.Module] = [nn.Flatten()]
    width = c_in * length
    for units in dense:
        dense_layers += [nn.Linear(width, int(units)), nn.ReLU(), nn.Dropout(dropout)]
        width = int(units)
    backbone = nn.Sequential()
    backbone.add_module("scale", InputScale())
    backbone.add_module("features", blocks)
    backbone.add_module("dense", nn.Sequential(*dense_layers))
    last = f"block{len(channels)}"
    return MultiHeadModel(backbone, width, heads,
                          contract=InputContract("sequence", shape, std=ECG_MV_STD),
                          gradcam_layer=f"backbone.features.{last}.convs")
