"""1D twin of the ResNet family: the timm layout (stem, four stages, same blocks per depth, same widths) with Conv1d.

It is the control that separates representation from architecture: the same depth and width on the (12, 5000)
signal as `resnet2d` on the rendered image. Hand-written because timm and torchvision build 2D ResNets only; the
module mirrors timm's ResNet (stride-2 7-tap stem + max pool, stride on the 3-tap conv, 1x1 projection shortcuts,
zero-initialised last BatchNorm of each block, Kaiming fan-out init) so the twins differ in dimensionality only.
"""
from __future__ import annotations

from torch import nn

from models.base import register_model
from models._contract import ECG_MV_STD, InputContract, InputScale, check_input_shape
from models._heads import MultiHeadModel
from models._resnet_layout import resnet_layout


def _bn_act(c: int) -> list[nn.Module]:
    return [nn.BatchNorm1d(c), nn.ReLU(inplace=True)]


class BasicBlock1d(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int, kernel_size: int):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(c_in, planes, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(planes)
        self.conv2 = nn.Conv1d(planes, planes, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(planes)
        self.act = nn.ReLU(inplace=True)
        self.downsample = _shortcut(c_in, planes, stride)

    def last_bn(self) -> nn.BatchNorm1d:
        return self.bn2

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck1d(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int, kernel_size: int):
        super().__init__()
        c_out = planes * self.expansion
        self.conv1 = nn.Conv1d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(planes)
        self.conv2 = nn.Conv1d(planes, planes, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(planes)
        self.conv3 = nn.Conv1d(planes, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm1d(c_out)
        self.act = nn.ReLU(inplace=True)
        self.downsample = _shortcut(c_in, c_out, stride)

    def last_bn(self) -> nn.BatchNorm1d:
        return self.bn3

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.act(out + (x if self.downsample is None else self.downsample(x)))


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out))


class ResNet1d(nn.Module):
    """Stem, four stages (stride 1, 2, 2, 2), global average pool -> (batch, num_features)."""

    def __init__(self, block: str, layers, channels, stem_width: int, in_chans: int, *,
                 stem_kernel: int = 7, kernel_size: int = 3):
        super().__init__()
        block_cls = BasicBlock1d if block == "basic" else Bottleneck1d
        self.scale = InputScale()
        self.conv1 = nn.Conv1d(in_chans, stem_width, stem_kernel, stride=2, padding=stem_kernel // 2, bias=False)
        self.bn1, self.act1 = _bn_act(stem_width)
        self.maxpool = nn.MaxPool1d(3, stride=2, padding=1)
        c_in = stem_width
        for i, (n_blocks, planes) in enumerate(zip(layers, channels)):
            blocks = []
            for j in range(n_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block_cls(c_in, planes, stride, kernel_size))
                c_in = planes * block_cls.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_features = c_in
        self.global_pool = nn.AdaptiveAvgPool1d(1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, (BasicBlock1d, Bottleneck1d)):
                nn.init.zeros_(m.last_bn().weight)

    def forward(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(self.scale(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.global_pool(x).flatten(1)


@register_model("resnet1d", accepts=("sequence",), version="2")  # 2: input / ECG_MV_STD
def resnet1d(input_shape, heads, *, depth: int = 152, width: float = 1.0, stem_kernel: int = 7,
             kernel_size: int = 3) -> nn.Module:
    """ResNet-`depth` (18/34/50/101/152) with Conv1d, stage widths x `width`; input (leads, samples)."""
    _, shape = check_input_shape("resnet1d", input_shape, ("sequence",))
    block, layers, channels, stem = resnet_layout("resnet1d", depth, width)
    body = ResNet1d(block, layers, channels, stem, shape[0], stem_kernel=stem_kernel, kernel_size=kernel_size)
    return MultiHeadModel(body, body.num_features, heads,
                          contract=InputContract("sequence", shape, std=ECG_MV_STD),
                          gradcam_layer="backbone.layer4")
