"""A shared embedding plus one Linear per task head: the output side every registered model has in common."""
from __future__ import annotations

import torch
from torch import nn

from bench.base.errors import ModelError
from models._contract import InputContract


class MultiHeadModel(nn.Module):
    """`backbone` maps a batch to a (batch, embed_dim) embedding; each head is a Linear on that embedding.

    forward returns {head name: (batch, units)} raw outputs (logits or regression values); the task owns the
    activations and losses. `gradcam_layer` names (dotted path) the layer Grad-CAM should read by default.
    """

    def __init__(self, backbone: nn.Module, embed_dim: int, heads: dict[str, int], *,
                 contract: InputContract, gradcam_layer: str | None = None):
        super().__init__()
        if not heads:
            raise ModelError("a model needs at least one head (heads is empty)")
        for name, units in heads.items():
            if not name or "." in name or int(units) < 1:
                raise ModelError(f"head {name!r}: a head needs a name without '.' and at least 1 unit, got {units}")
        self.backbone = backbone
        self.heads = nn.ModuleDict({name: nn.Linear(embed_dim, int(units)) for name, units in heads.items()})
        self.embed_dim = int(embed_dim)
        self.input_contract = contract
        self.gradcam_layer = gradcam_layer

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.backbone(x)
        return {name: head(z) for name, head in self.heads.items()}
