"""Splitting work across threads, for work that releases the GIL: batches of ECGs (the compiled page renderer,
scipy's filters; each chunk a contiguous run of whole ECGs) and blocks of bootstrap resamples (compiled metric
kernels; each block a contiguous run of weight rows). Results must not depend on the split."""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable

import numpy as np


def default_threads() -> int:
    """Threads a batch is split across by default: OMP_NUM_THREADS when set (as Ray sets it to a task's CPUs), else
    the CPUs this process may run on."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def run_chunks(work: Callable[[int, int], None], n: int, threads: int | None = None) -> None:
    """Call work(lo, hi) once per contiguous chunk of range(n), min(n, threads) chunks at once (default
    `default_threads()`); the calling thread takes the first chunk. The first exception is re-raised here."""
    bounds = [int(b) for b in np.linspace(0, n, min(n, max(1, threads or default_threads())) + 1)]
    if len(bounds) < 2:
        return
    errors: list[BaseException] = []

    def guarded(lo: int, hi: int) -> None:
        try:
            work(lo, hi)
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)

    helpers = [threading.Thread(target=guarded, args=(lo, hi), daemon=True) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    for t in helpers:
        t.start()
    try:
        work(bounds[0], bounds[1])
    finally:
        for t in helpers:
            t.join()
    if errors:
        raise errors[0]


def over_row_blocks(kernel: Callable[..., np.ndarray], weights: np.ndarray, *args) -> np.ndarray:
    """kernel(weights[lo:hi], *args) on contiguous blocks of rows, one block per thread, stacked in row order."""
    weights = np.ascontiguousarray(weights, dtype=float)
    bounds = np.linspace(0, len(weights), min(len(weights), default_threads()) + 1).astype(int)
    if len(bounds) <= 2:
        return kernel(weights, *args)
    with ThreadPoolExecutor(len(bounds) - 1) as pool:
        parts = list(pool.map(lambda lo, hi: kernel(weights[lo:hi], *args), bounds[:-1], bounds[1:]))
    return np.concatenate(parts)
