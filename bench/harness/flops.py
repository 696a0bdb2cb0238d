"""Model size and compute per ECG, measured (torch.utils.flop_counter), never estimated from formulas.

FLOPs count one multiply-add as 2 FLOPs (PyTorch's convention), covering convolutions and matrix products;
normalisation, activations and pooling are not counted (they are a small share of a CNN's work).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared tensors counted once)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def flops_per_ecg(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Forward FLOPs for one ECG: a batch of 1 of `input_shape`, in eval mode, without grad.

    Counted on the meta device (shapes only: the parameters are swapped for storage-less stand-ins), so a
    ResNet-152 on 512-px images costs milliseconds instead of a real 94-GFLOP forward pass on the CPU; the count is
    the same. The model's train/eval mode is restored afterwards.
    """
    meta = {k: torch.empty_like(v, device="meta") for k, v in (*model.named_parameters(),
                                                              *model.named_buffers())}
    x = torch.zeros((1, *tuple(int(s) for s in input_shape)), device="meta")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            torch.func.functional_call(model, meta, (x,))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
