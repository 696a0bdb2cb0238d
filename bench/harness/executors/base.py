"""Executor contract.

`run(cells, ctx, on_start, on_done) -> list[CellResult]` runs every cell through `bench.harness.runner.run_cell` and returns
one result per cell (in any order), calling `on_start(cell)` when a cell is dispatched and `on_done(cell, result)`
when it ends. An executor never loses a cell: a cell whose worker died comes back as FAILED with the reason (or is
retried first). Resume, failure isolation and the summary are the driver's job (`bench.harness.driver`), the same for all.
"""
from __future__ import annotations

from typing import Callable

from bench.base.registry import Registry

EXECUTORS: Registry = Registry("executor", package="bench.harness.executors")


def register_executor(name: str):
    return EXECUTORS.register(name)


class Executor:
    def __init__(self, **options):
        self.options = options

    def run(self, cells, ctx, on_start: Callable, on_done: Callable) -> list:
        raise NotImplementedError
