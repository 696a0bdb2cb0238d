"""Splitting a batch of ECGs across threads, for work that releases the GIL (the compiled page renderer, scipy's
filters). Results must not depend on the split: each chunk is a contiguous run of whole ECGs."""
from __future__ import annotations

import os
import threading
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
