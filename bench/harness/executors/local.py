"""Local executor: cells one after another in this process (the cohort is loaded once and reused)."""
from __future__ import annotations

from bench.harness.executors.base import Executor, register_executor


@register_executor("local")
class LocalExecutor(Executor):
    def run(self, cells, ctx, on_start, on_done) -> list:
        from bench.harness.runner import run_cell

        results = []
        for cell in cells:
            on_start(cell)
            res = run_cell(cell, ctx)
            on_done(cell, res)
            results.append(res)
        return results
