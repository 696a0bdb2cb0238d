"""Splitting a batch metric's bootstrap resamples across threads: each compiled kernel scores a contiguous block of
weight rows with the GIL released, so blocks run at once. Values do not depend on the split (each row is scored
on its own). Thread count as the representations use it: OMP_NUM_THREADS when set (Ray sets it to a task's CPUs),
else the CPUs this process may run on.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np


def default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def over_row_blocks(kernel: Callable[..., np.ndarray], weights: np.ndarray, *args) -> np.ndarray:
    """kernel(weights[lo:hi], *args) on contiguous blocks of rows, one block per thread, stacked in row order."""
    weights = np.ascontiguousarray(weights, dtype=float)
    bounds = np.linspace(0, len(weights), min(len(weights), default_threads()) + 1).astype(int)
    if len(bounds) <= 2:
        return kernel(weights, *args)
    with ThreadPoolExecutor(len(bounds) - 1) as pool:
        parts = list(pool.map(lambda lo, hi: kernel(weights[lo:hi], *args), bounds[:-1], bounds[1:]))
    return np.concatenate(parts)
