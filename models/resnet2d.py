"""2D ResNet (He et al. 2016) on rendered ECG images, via timm: `resnet2d`, its depth (18/34/50/101/152, default 152,
the PVC paper's) and width are parameters, so the registered name claims no depth (it was `resnet152`; grids give
the depth in the entry's label, e.g. `resnet2d-18`).

Weights: `pretrained=PATH` loads a local ImageNet state dict through timm's own file path
(`pretrained_cfg_overlay=dict(file=PATH)`, as timm's train.py does for --pretrained-path); `pretrained=True` uses
timm's local cache (Hugging Face hub or torch hub checkpoints) and downloads only with `allow_download=True`;
anything else is random init. When asked-for weights are absent, `if_absent="fail"` (default) raises ModelError and
the cell fails naming the file or cache entry; `if_absent="scratch"` warns in one line and continues from random
init, logged as `pretrained=false`, `pretrained_source=absent`. The run logs `pretrained`, `pretrained_source` and
the weight source from `input_contract`.
ImageNet mean/std normalisation happens inside the module: inputs arrive as float 0..1 images (3, H, W).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from bench.base.errors import ModelError
from models.base import MODELS, register_model
from models._contract import IMAGENET_MEAN, IMAGENET_STD, InputContract, check_input_shape
from models._heads import MultiHeadModel
from models._resnet_layout import BASE_CHANNELS, resnet_layout

_OFF = (None, False, "", "false", "none", "no", "0")
_ON = (True, "true", "timm", "yes", "1")
IF_ABSENT = ("fail", "scratch")


class NormalizedBackbone(nn.Module):
    """(x - mean) / std per channel, then `body` (a timm model with its classifier removed)."""

    def __init__(self, body: nn.Module, mean, std):
        super().__init__()
        self.body = body
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x):
        return self.body((x - self.mean) / self.std)


def cached_timm_weights(name: str) -> tuple[str | None, str]:
    """(local file or None, source label) of timm's default pretrained weights for `name`, never downloading.

    Looks in the Hugging Face hub cache, then in torch hub's checkpoint folder (timm's two download targets).
    """
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        raise ModelError(f"model {name!r}: timm has no pretrained weights for this architecture")
    label = f"timm:{cfg.hf_hub_id or cfg.url}"
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(cfg.hf_hub_id, filename)
            if isinstance(found, str) and os.path.isfile(found):
                return found, label
    if cfg.url:
        found = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if found.is_file():
            return str(found), label
    return None, label


@dataclass(frozen=True)
class _Weights:
    """The initial weights asked for and found: `source` is none (random init asked), file, timm-cache or
    download (found), or absent (asked for, not found: random init)."""

    use: bool
    path: str | None
    label: str | None
    source: str


def _key(pretrained):
    return pretrained.strip().lower() if isinstance(pretrained, str) else pretrained


def _resolve_weights(name: str, pretrained, allow_download: bool, if_absent: str) -> _Weights:
    """The weights from the `pretrained` parameter; absent weights raise, or with if_absent="scratch" warn."""
    key = _key(pretrained)
    if key in _OFF:
        return _Weights(False, None, None, "none")
    if key in _ON:
        path, label = cached_timm_weights(name)
        if path is not None:
            return _Weights(True, path, label, "timm-cache")
        if allow_download:
            return _Weights(True, None, label, "download")
        why = (f"model 'resnet2d': pretrained=true but {label} is not in timm's local cache and downloads are off; "
               "pass a weights file (pretrained=PATH) or allow_download=true")
    else:
        path = os.fspath(pretrained)
        if os.path.isfile(path):
            return _Weights(True, path, path, "file")
        label, why = path, f"{path}: pretrained weights file not found"
    if if_absent != "scratch":
        raise ModelError(why)
    warnings.warn(f"{why}; training from scratch (if_absent=scratch), logged as pretrained_source=absent",
                  stacklevel=3)
    return _Weights(False, None, f"absent:{label}", "absent")


def _check_loaded(body: nn.Module, path: str) -> None:
    """timm loads non-strictly when the classifier differs; make a file of another architecture fail loudly.

    Every backbone tensor must come from the file with its shape, and the file may hold nothing else but the
    classifier (`fc.*`): a ResNet-34 file has every ResNet-18 tensor, so missing keys alone would not catch it.
    """
    from timm.models import load_state_dict

    saved = load_state_dict(path)
    own = body.state_dict()
    arch = getattr(body, "pretrained_cfg", {}).get("architecture", "this ResNet")
    missing = [k for k, v in own.items() if k not in saved or saved[k].shape != v.shape]
    extra = [k for k in saved if k not in own and not k.startswith("fc.")]
    if missing or extra:
        raise ModelError(f"{path}: weights do not fit {arch}: "
                         f"{len(missing)} tensors missing or of another shape (first: {missing[:3]}), "
                         f"{len(extra)} unexpected (first: {extra[:3]})")


@register_model("resnet2d", accepts=("image",))
def resnet2d(input_shape, heads, *, depth: int = 152, width: float = 1.0, pretrained=None,
             allow_download: bool = False, if_absent: str = "fail", drop_rate: float = 0.0,
             gradcam_stage: int | None = None) -> nn.Module:
    """timm ResNet-`depth` (18/34/50/101/152) with stage widths x `width`, global average pool, one Linear per head.

    Pretrained weights exist only for width 1.0; asking for both raises ModelError. `if_absent` ("fail" or
    "scratch") says what absent weights do (module docstring). Grad-CAM reads the last stage (`layer4`, stride 32)
    unless its map would be coarser than ResNet's own 7 cells at 224 px on the image's short side; small CPU-grid
    images then use `layer3` (stride 16). `gradcam_stage` (1-4) overrides the choice.
    """
    import timm

    _, shape = check_input_shape("resnet2d", input_shape, ("image",))
    _, _, channels, _ = resnet_layout("resnet2d", depth, width)
    if gradcam_stage is None:
        gradcam_stage = 4 if min(shape[1:]) / 32 >= 7 else 3
    if int(gradcam_stage) not in (1, 2, 3, 4):
        raise ModelError(f"model 'resnet2d': gradcam_stage must be 1-4, got {gradcam_stage}")
    if if_absent not in IF_ABSENT:
        raise ModelError(f"model 'resnet2d': if_absent must be one of {IF_ABSENT}, got {if_absent!r}")
    name = f"resnet{int(depth)}"
    if _key(pretrained) not in _OFF and channels != BASE_CHANNELS:
        raise ModelError(f"model 'resnet2d': ImageNet weights fit width 1.0 only, not width={width}")
    w = _resolve_weights(name, pretrained, bool(allow_download), if_absent)
    kwargs = dict(num_classes=0, channels=channels, drop_rate=drop_rate)
    try:
        if w.path is not None:
            body = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=w.path), **kwargs)
        else:
            body = timm.create_model(name, pretrained=w.use, **kwargs)
    except (RuntimeError, KeyError, OSError, ValueError) as e:
        raise ModelError(f"{w.path or w.label or name}: could not build {name} with these weights: {e}") from e
    if w.path is not None:
        _check_loaded(body, w.path)
    contract = InputContract("image", shape, IMAGENET_MEAN, IMAGENET_STD, pretrained=w.use, weights=w.label,
                             pretrained_source=w.source)
    return MultiHeadModel(NormalizedBackbone(body, IMAGENET_MEAN, IMAGENET_STD), body.num_features, heads,
                          contract=contract, gradcam_layer=f"backbone.body.layer{int(gradcam_stage)}")


# The name claimed a depth the CPU grids' ResNet-18 lacks; a grid that still says it gets one line naming the new one.
MODELS.rename("resnet152", "resnet2d", "its depth is the `depth` param (default 152); give the depth in the entry's "
              "label, e.g. label = \"resnet2d-18\"")
