"""What a built model expects of its input and where its weights came from; read by the harness, never guessed.

Every registered builder returns a module carrying `input_contract` (an `InputContract`); the harness logs
`input_contract.as_params()` with the run (notably `pretrained`), so a table can tell an ImageNet-initialised
ResNet from a randomly initialised one without knowing anything about ResNets.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from bench.base.errors import ModelError

#: Number of dimensions of one ECG's model input, per representation kind.
KIND_NDIM = {"sequence": 2, "image": 3, "vector": 1}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: A typical standard deviation of a 12-lead ECG in mV over all leads and samples (simulated cohort: 0.14-0.26 mV,
#: 5-95 %). The 1D models divide their input by it, so `raw` in millivolts reaches the first BatchNorm at about unit
#: variance: its running statistics start at 1 and, after the few steps of a short run, would otherwise still be
#: several times too large for millivolt inputs at evaluation.
ECG_MV_STD = (0.2,)


@dataclass(frozen=True)
class InputContract(Mapping):
    """Input kind and shape of one ECG, the normalisation the model applies itself, and the weight source.

    It reads as a mapping of its loggable params (`as_params()`), so `dict(model.input_contract)` is what a run logs.

    `mean`/`std` are per-channel constants the model subtracts/divides inside `forward` (None: the model applies
    none; a single value applies to every channel). `weights` names the file (or `timm:<name>` for timm's cache)
    the initial weights came from, None for random init. `pretrained_source`: none (random init asked for), file,
    timm-cache, download, or absent (weights asked for but not found, random init instead), so a run says when it
    trained from scratch against its config.
    """

    kind: str
    shape: tuple[int, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    pretrained: bool = False
    weights: str | None = None
    pretrained_source: str = "none"

    def as_params(self) -> dict[str, object]:
        """Flat, loggable view (MLflow params are strings; tuples become 'a x b')."""
        return {
            "input_kind": self.kind,
            "input_shape": "x".join(map(str, self.shape)),
            "input_mean": "none" if self.mean is None else ",".join(f"{m:g}" for m in self.mean),
            "input_std": "none" if self.std is None else ",".join(f"{s:g}" for s in self.std),
            "pretrained": bool(self.pretrained),
            "weights": self.weights or "none",
            "pretrained_source": self.pretrained_source,
        }

    def __getitem__(self, key: str):
        return self.as_params()[key]

    def __iter__(self):
        return iter(self.as_params())

    def __len__(self) -> int:
        return len(self.as_params())


class InputScale(nn.Module):
    """x / std, a fixed constant (a buffer outside the state dict): the 1D models' millivolt input scaling."""

    def __init__(self, std: tuple[float, ...] = ECG_MV_STD):
        super().__init__()
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1), persistent=False)

    def forward(self, x):
        return x / self.std


def check_input_shape(model: str, input_shape, accepts: tuple[str, ...]) -> tuple[str, tuple[int, ...]]:
    """Return (kind, shape) for an input shape a model accepts, else raise ModelError naming the model.

    Kinds are told apart by dimensionality: (C, T) sequence, (3, H, W) image, (D,) vector.
    """
    shape = tuple(int(s) for s in input_shape)
    for kind in accepts:
        if len(shape) == KIND_NDIM[kind] and all(s > 0 for s in shape):
            if kind == "image" and shape[0] != 3:
                raise ModelError(f"model {model!r}: image input must have 3 channels, got shape {shape}")
            return kind, shape
    raise ModelError(f"model {model!r}: input shape {shape} is not one of the kinds it accepts {accepts}")
