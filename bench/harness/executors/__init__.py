"""Executors: where cells run. All sit behind `Executor.run(cells, ctx, on_start, on_done)`; a new backend (e.g.
Slurm via submitit) is one module registered with `@register_executor(name)`."""
from bench.harness.executors.base import EXECUTORS, Executor, register_executor

__all__ = ["EXECUTORS", "Executor", "register_executor"]
