"""End-to-end dilated residual network for MI detection and localisation (Applied Soft Computing 2020).

The paper's front-end is one 1D convolution per lead (a learned filter bank, like a pseudo time-frequency
representation), which stacks into a compact feature volume of leads x filters over time; a residual network with
dilated convolutions follows, then global average pooling. Here the feature volume is read as (leads x filters)
channels over time, so the body is a 1D network: stages of pre-activation residual blocks whose dilations grow
(1, 2, 4, 8) to see a whole beat at few FLOPs, with a stride-2 max pool between stages.
"""
from __future__ import annotations

from torch import nn

from bench.base.errors import ModelError
from models.base import register_model
from models._contract import ECG_MV_STD, InputContract, InputScale, check_input_shape
from models._heads import MultiHeadModel


class DilatedResidualBlock(nn.Module):
    """x + Conv(dilation d)(ReLU(BN(Conv(dilation d)(ReLU(BN(x)))))), lengths preserved."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        pad = dilation * (kernel_size // 2)
        self.body = nn.Sequential(
            nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size, padding=pad, dilation=dilation, bias=False),
            nn.BatchNorm1d(channels), nn.ReLU(), nn.Dropout(dropout),
            nn.Conv1d(channels, channels, kernel_size, padding=pad, dilation=dilation, bias=False),
        )

    def forward(self, x):
        return x + self.body(x)


class DilatedResNet1d(nn.Module):
    def __init__(self, n_leads: int, *, front_filters: int, front_kernel: int, front_stride: int, width: int,
                 stages: int, dilations, kernel_size: int, dropout: float):
        super().__init__()
        self.scale = InputScale()
        # groups=n_leads: each lead gets its own filter bank, as in the paper's per-lead front-end.
        self.front = nn.Conv1d(n_leads, n_leads * front_filters, front_kernel, stride=front_stride,
                               padding=front_kernel // 2, groups=n_leads, bias=False)
        self.mix = nn.Sequential(nn.BatchNorm1d(n_leads * front_filters), nn.ReLU(),
                                 nn.Conv1d(n_leads * front_filters, width, 1, bias=False))
        self.stages = nn.Sequential()
        for s in range(stages):
            blocks = [DilatedResidualBlock(width, kernel_size, int(d), dropout) for d in dilations]
            if s > 0:
                blocks.insert(0, nn.MaxPool1d(2))
            self.stages.add_module(f"stage{s + 1}", nn.Sequential(*blocks))
        self.head_norm = nn.Sequential(nn.BatchNorm1d(width), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.num_features = width

    def forward(self, x):
        x = self.head_norm(self.stages(self.mix(self.front(self.scale(x)))))
        return self.pool(x).flatten(1)


@register_model("dilated_resnet1d", accepts=("sequence",), version="2")  # 2: input / ECG_MV_STD
def dilated_resnet1d(input_shape, heads, *, front_filters: int = 8, front_kernel: int = 25, front_stride: int = 4,
                     width: int = 32, stages: int = 3, dilations=(1, 2, 4, 8), kernel_size: int = 5,
                     dropout: float = 0.1) -> nn.Module:
    """Per-lead filter-bank front-end, `stages` x len(dilations) dilated residual blocks, GAP, one Linear per head."""
    _, shape = check_input_shape("dilated_resnet1d", input_shape, ("sequence",))
    if shape[1] // front_stride < 2 ** (stages - 1):
        raise ModelError(f"model 'dilated_resnet1d': input length {shape[1]} is too short for front stride "
                         f"{front_stride} and {stages} stages")
    body = DilatedResNet1d(shape[0], front_filters=front_filters, front_kernel=front_kernel,
                           front_stride=front_stride, width=width, stages=stages, dilations=tuple(dilations),
                           kernel_size=kernel_size, dropout=dropout)
    return MultiHeadModel(body, body.num_features, heads,
                          contract=InputContract("sequence", shape, std=ECG_MV_STD),
                          gradcam_layer="backbone.head_norm")
