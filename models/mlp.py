"""Shallow MLP on DWT+PCA features (Applied Soft Computing 2020): three dense layers, input 4 x N_PC features.

Layers: D -> hidden[0] -> hidden[1] -> head units (each head is the third layer on the shared 2nd hidden layer).
The features' scales differ by orders of magnitude between wavelet bands, so by default a non-affine BatchNorm
standardises the input with statistics learned on the training batches (no fitted scaler to carry around).
"""
from __future__ import annotations

from torch import nn

from models.base import register_model
from models._contract import InputContract, check_input_shape
from models._heads import MultiHeadModel


@register_model("mlp", accepts=("vector",))
def mlp(input_shape, heads, *, hidden=(64, 32), dropout: float = 0.1, input_norm: bool = True) -> nn.Module:
    """Three-layer perceptron (two hidden ReLU layers + one Linear per head) on a (D,) feature vector."""
    _, shape = check_input_shape("mlp", input_shape, ("vector",))
    layers: list[nn.Module] = [nn.BatchNorm1d(shape[0], affine=False)] if input_norm else []
    width = shape[0]
    for units in hidden:
        layers += [nn.Linear(width, int(units)), nn.ReLU(), nn.Dropout(dropout)]
        width = int(units)
    return MultiHeadModel(nn.Sequential(*layers), width, heads, contract=InputContract("vector", shape))
