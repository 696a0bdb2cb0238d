"""ResNet-152 (He et al. 2016) on rendered ECG images, via timm; depth and width are parameters for CPU grids.

Weights: `pretrained=PATH` loads a local ImageNet state dict through timm's own file path
(`pretrained_cfg_overlay=dict(file=PATH)`, as timm's train.py does for --pretrained-path); `pretrained=True` uses
timm's local cache (Hugging Face hub or torch hub checkpoints) and downloads only with `allow_download=True`;
anything else is random init. The run logs `pretrained=true/false` and the weight source from `input_contract`.
ImageNet mean/std normalisation happens inside the module: inputs arrive as float 0..1 images (3, H, W).
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from bench.base.errors import ModelError
from models.base import register_model
from models._contract import IMAGENET_MEAN, IMAGENET_STD, InputContract, check_input_shape
from models._heads import MultiHeadModel
from models._resnet_layout import BASE_CHANNELS, resnet_layout

_OFF = (None, False, "", "false", "none", "no", "0")
_ON = (True, "true", "timm", "yes", "1")


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


def _resolve_weights(name: str, pretrained, allow_download: bool) -> tuple[bool, str | None, str | None]:
    """(use pretrained weights, local file or None, source label) from the `pretrained` parameter."""
    key = pretrained.strip().lower() if isinstance(pretrained, str) else pretrained
    if key in _OFF:
        return False, None, None
    if key in _ON:
        path, label = cached_timm_weights(name)
        if path is None and not allow_download:
            raise ModelError(f"model {name!r}: pretrained=true but {label} is not in timm's local cache and "
                             "downloads are off; pass a weights file (pretrained=PATH) or allow_download=true")
        return True, path, label
    path = os.fspath(pretrained)
    if not os.path.isfile(path):
        raise ModelError(f"{path}: pretrained weights file not found")
    return True, path, path


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


@register_model("resnet152", accepts=("image",))
def resnet152(input_shape, heads, *, depth: int = 152, width: float = 1.0, pretrained=None,
              allow_download: bool = False, drop_rate: float = 0.0,
              gradcam_stage: int | None = None) -> nn.Module:
    """timm ResNet-`depth` (18/34/50/101/152) with stage widths x `width`, global average pool, one Linear per head.

    Pretrained weights exist only for width 1.0; asking for both raises ModelError. Grad-CAM reads the last stage
    (`layer4`, stride 32) unless its map would be coarser than ResNet's own 7 cells at 224 px on the image's short
    side; small CPU-grid images then use `layer3` (stride 16). `gradcam_stage` (1-4) overrides the choice.
    """
    import timm

    _, shape = check_input_shape("resnet152", input_shape, ("image",))
    _, _, channels, _ = resnet_layout("resnet152", depth, width)
    if gradcam_stage is None:
        gradcam_stage = 4 if min(shape[1:]) / 32 >= 7 else 3
    if int(gradcam_stage) not in (1, 2, 3, 4):
        raise ModelError(f"model 'resnet152': gradcam_stage must be 1-4, got {gradcam_stage}")
    name = f"resnet{int(depth)}"
    use_pretrained, path, label = _resolve_weights(name, pretrained, bool(allow_download))
    if use_pretrained and channels != BASE_CHANNELS:
        raise ModelError(f"model 'resnet152': ImageNet weights fit width 1.0 only, not width={width}")
    kwargs = dict(num_classes=0, channels=channels, drop_rate=drop_rate)
    try:
        if path is not None:
            body = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path), **kwargs)
        else:
            body = timm.create_model(name, pretrained=use_pretrained, **kwargs)
    except (RuntimeError, KeyError, OSError, ValueError) as e:
        raise ModelError(f"{path or label or name}: could not build {name} with these weights: {e}") from e
    if path is not None:
        _check_loaded(body, path)
    contract = InputContract("image", shape, IMAGENET_MEAN, IMAGENET_STD, pretrained=use_pretrained, weights=label)
    return MultiHeadModel(NormalizedBackbone(body, IMAGENET_MEAN, IMAGENET_STD), body.num_features, heads,
                          contract=contract, gradcam_layer=f"backbone.body.layer{int(gradcam_stage)}")
