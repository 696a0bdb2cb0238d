"""Grid preparation, before the first cell runs: import what every cell runs on, load every cohort the pending
cells read (training and external sources) and build every representation cache entry they will open (data-fitted
ones on each cell's own training rows, exactly as the cell would).

Why outside the cells: a cohort and a representation entry are shared by every cell that reads them (the `small`
grid's image@128 entry feeds four tasks, its cohort sixteen cells), so building them inside whichever cell came
first charged a one-off cost of the grid to that cell's `compute/overhead_s`, which then measured the order of the
grid rather than the harness; likewise what a process does once (~6 s on 2 cores: importing torch, its
compiler front end that `torch.func` pulls in, lifelines, timm and MLflow's model flavour; MLflow's map of installed
packages, built at the first model save; the compiled metric kernels, loaded from numba's cache at their first
call), which made the first cell of every `bench run` look slower. Their
cost stays visible: the driver prints the preparation's wall time, and every run logs its entry's build seconds (`compute/repr_build_s`) next to the per-ECG cost (`compute/repr_ms_per_ecg`).
Preparation never stops a grid: a cell whose cohort or representation cannot be built here is left to fail in its
own run, with its own error and traceback.
"""
from __future__ import annotations

import importlib
import time
import warnings
from dataclasses import dataclass, field

from bench.harness.grid import Cell


#: What a cell's stages import (bench/harness/runner.py imports them lazily, so the runner stays light for Ray).
CELL_MODULES = ("torch", "torch._dynamo", "tasks", "models", "representations", "bench.harness.train",
                "bench.harness.compute", "bench.harness.evaluation", "bench.harness.clinical", "bench.harness.external",
                "bench.harness.flops", "bench.harness.model_store", "bench.harness.gradcam", "timm")


@dataclass
class Preparation:
    cohorts: int = 0
    entries: int = 0
    built: int = 0  # entries built now (the rest were already in the cache)
    wall_s: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)  # cell label -> reason (the cell reports it in full)

    def summary(self) -> str:
        line = (f"prepared {self.cohorts} cohort(s) and {self.entries} representation entr"
                f"{'y' if self.entries == 1 else 'ies'} ({self.built} built now) in {self.wall_s:.1f} s, "
                "outside the cells' compute/overhead_s")
        if self.failed:
            line += f"; {len(self.failed)} cell(s) left to fail in their own run"
        return line


def prepare_cells(cells: list[Cell], cache_dir: str) -> Preparation:
    """Load the cohorts and build the representation entries of `cells` (in this process: the local executor's
    cells then find the cohorts in memory, remote workers find everything in the cache on disk)."""
    from sklearn.base import clone

    from bench.harness.cache import build_features, last_build_stats
    from bench.harness.cell_data import cached_cohort, cell_data
    from representations import REPRESENTATIONS

    t0 = time.perf_counter()
    for module in CELL_MODULES:  # torch._dynamo: what torch.func (FLOP counting) imports on first use, ~2.5 s
        importlib.import_module(module)
    importlib.import_module("bench.harness.model_store").warm_up()
    prep = Preparation()
    sources: set[str] = set()
    entries: set[str] = set()
    warmed: set[str] = set()
    for cell in cells:
        try:
            cohort = cached_cohort(cell.source, cache_dir)
            sources.add(cell.source)
            for source in cell.external.values():
                cached_cohort(source, cache_dir)
                sources.add(source)
            with warnings.catch_warnings():  # the cell itself warns about what it runs (e.g. a leaky split)
                warnings.simplefilter("ignore")
                data, _, _ = cell_data(cell, cohort)
            if cell.task.id not in warmed:
                warmed.add(cell.task.id)
                _evaluate_once(data.task, data.parts["test"].records)
            rep = clone(REPRESENTATIONS.get(cell.representation.name)(**cell.representation.params))
            build_features(rep, cohort, data.parts["train"].rows, cache_dir)
            stats = last_build_stats()
            if stats["key"] not in entries:
                entries.add(stats["key"])
                prep.built += not stats["hit"]
        except Exception as e:  # noqa: BLE001 - the cell runs anyway and fails with its full traceback
            prep.failed[cell.label] = f"{type(e).__name__}: {e}"
    prep.cohorts, prep.entries, prep.wall_s = len(sources), len(entries), time.perf_counter() - t0
    return prep


def _evaluate_once(task, records) -> None:
    """Score the task's metrics once on these rows with arbitrary scores (2 resamples): the first call of each
    compiled metric kernel loads it from numba's on-disk cache (~0.7 s for the survival metrics), which otherwise
    fell to the grid's first cell of the task. The values are thrown away."""
    import numpy as np
    import pandas as pd

    from bench.harness.evaluation import evaluate_with_ci

    rng = np.random.default_rng(0)
    outputs = {head: rng.normal(size=(len(records), int(size))).astype(np.float32)
               for head, size in dict(task.heads).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluate_with_ci(task, records.reset_index(drop=True), pd.DataFrame(task.predict(outputs)), n_boot=2, seed=0)
