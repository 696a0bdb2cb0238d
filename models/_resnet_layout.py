"""The ResNet family layout (He et al. 2016) shared by the 2D model (timm) and its 1D twin: blocks per stage for each
depth, and stage widths scaled by a width multiplier, so both twins are built from the same two numbers."""
from __future__ import annotations

from bench.base.errors import ModelError

#: depth -> (block type, blocks per stage); the same table as timm's resnet18 ... resnet152 entrypoints.
RESNET_LAYOUTS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
BASE_CHANNELS = (64, 128, 256, 512)
BASE_STEM = 64


def resnet_layout(model: str, depth: int, width: float) -> tuple[str, tuple[int, ...], tuple[int, ...], int]:
    """(block type, blocks per stage, stage channels, stem width) for a depth and width multiplier.

    Stage widths are rounded to a multiple of 4 (at least 8) so narrow CPU variants stay well-formed. The stem stays
    64 wide at every width multiplier, as in timm's ResNet (its plain 7x7 stem is always 64 channels).
    """
    if int(depth) not in RESNET_LAYOUTS:
        raise ModelError(f"model {model!r}: depth {depth} is not one of {sorted(RESNET_LAYOUTS)}")
    if not width > 0:
        raise ModelError(f"model {model!r}: width multiplier must be > 0, got {width}")
    block, layers = RESNET_LAYOUTS[int(depth)]

    def scale(c: int) -> int:
        return max(8, int(round(c * width / 4.0)) * 4)

    return block, layers, tuple(scale(c) for c in BASE_CHANNELS), BASE_STEM
