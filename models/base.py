"""Model contract.

A model builder is registered with the input kinds it accepts:

    @register_model("cnn1d", accepts=("sequence",))
    def cnn1d(input_shape: tuple[int, ...], heads: dict[str, int], **params) -> nn.Module: ...

`input_shape` is one ECG's representation shape (e.g. (12, 5000), (3, 224, 448), (28,)); `heads` maps head name ->
output units (from the task). The module's forward takes a float32 batch and returns {head name: (batch, units)}
raw outputs (logits / regression values); the task owns activations and losses.
Builders receive the model parameters of the grid file as keyword arguments (None values dropped).
"""
from __future__ import annotations

from bench.base.registry import Registry

MODELS: Registry = Registry("model", package="models")


def register_model(name: str, *, accepts: tuple[str, ...], version: str = "1"):
    """Register a builder; `version` is bumped whenever the built architecture or its initialisation changes (it is
    part of the cell key, so the model's cells rerun)."""
    return MODELS.register(name, accepts=tuple(accepts), version=str(version))
