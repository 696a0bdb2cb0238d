"""Ray executor: each cell is one Ray task (`bench.harness.runner.run_cell`) on a local Ray instance or a cluster.

Resources come from the cell: `train.num_threads` CPUs (at least 1; `cpus_per_cell` overrides) and one GPU per
cell when cells use CUDA (`--device cuda`, or `auto` on a cluster with GPUs). At most `workers` cells are in flight
(default: as many as the cluster's CPUs / GPUs allow); the next cell is dispatched when one ends.

Tracking: every worker writes its own run, so the store must take concurrent writers. A SQLite file does not
('database is locked'): with more than one concurrent cell this executor refuses a local store and says to start
one `mlflow server` (or to run with one worker). The experiment is created once by the driver.

A worker that dies (killed, out of memory, `os._exit`) is never lost: Ray retries the task `max_retries` times,
then the cell comes back FAILED with the reason 'worker died: ...', and the MLflow runs the dead attempts left
RUNNING are closed as FAILED with the same reason, so the next `bench run` runs the cell again.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from bench.base.errors import ExecutorError
from bench.harness.executors.base import Executor, register_executor

SERVER_HINT = (
    "start one tracking server and point the grid at it, e.g.\n"
    "  mlflow server --backend-store-uri sqlite:///$PWD/results/mlflow.db "
    "--artifacts-destination $PWD/results/mlruns --host PRIVATE_IP --port 5000 --app-name basic-auth\n"
    "  python -m bench run --grid G --executor ray --tracking-uri http://PRIVATE_IP:5000 (credentials in "
    "MLFLOW_TRACKING_USERNAME/PASSWORD; README: Running a grid on a Ray cluster)\n"
    "or run one cell at a time (--executor local, or RayExecutor(workers=1))")


def _run_remote(cell, ctx, setup: Callable | None):
    """The Ray task body: optional per-worker setup (e.g. importing plugin models), then the cell."""
    if setup is not None:
        setup()
    from bench.harness.runner import run_cell

    return run_cell(cell, ctx)


@register_executor("ray")
class RayExecutor(Executor):
    """Options: `address` (None: start a local Ray instance; 'auto' or HOST:PORT: join a cluster), `workers` (max
    cells in flight), `cpus_per_cell`, `gpus_per_cell`, `max_retries` (Ray retries of a dead worker's task, default
    0), `num_cpus` (CPUs of a local instance), `worker_setup` (a callable run in the worker before each cell)."""

    def __init__(self, address: str | None = None, workers: int | None = None, cpus_per_cell: float | None = None,
                 gpus_per_cell: float | None = None, max_retries: int = 0, num_cpus: int | None = None,
                 worker_setup: Callable | None = None):
        super().__init__(address=address, workers=workers)
        self.address, self.workers = address, workers
        self.cpus_per_cell, self.gpus_per_cell = cpus_per_cell, gpus_per_cell
        self.max_retries, self.num_cpus, self.worker_setup = int(max_retries), num_cpus, worker_setup

    # ---- resources -------------------------------------------------------------------------------------------
    def _uses_gpu(self, ctx, cluster: dict) -> bool:
        return ctx.device == "cuda" or (ctx.device == "auto" and cluster.get("GPU", 0) > 0)

    def _resources(self, cell, use_gpu: bool) -> dict:
        cpus = self.cpus_per_cell or float(cell.train.get("num_threads") or 1)
        gpus = (self.gpus_per_cell if self.gpus_per_cell is not None else 1.0) if use_gpu else 0.0
        return {"num_cpus": cpus, "num_gpus": gpus}

    def _concurrency(self, cells, use_gpu: bool, cluster: dict) -> int:
        if self.workers:
            return max(1, min(int(self.workers), len(cells)))
        per = self._resources(cells[0], use_gpu)
        slots = int(cluster.get("CPU", 1) // max(per["num_cpus"], 1e-9))
        if per["num_gpus"]:
            slots = min(slots, int(cluster.get("GPU", 0) // per["num_gpus"]))
        return max(1, min(slots, len(cells)))

    def _refuse_sqlite(self, ctx, n: int) -> None:
        from bench.harness.tracking import is_local_store

        if n > 1 and is_local_store(ctx.tracking_uri):
            raise ExecutorError(
                f"ray executor: {n} cells would write concurrently to {ctx.tracking_uri}, a single-writer local "
                f"store ('database is locked'); {SERVER_HINT}")

    # ---- run ---------------------------------------------------------------------------------------------------
    def run(self, cells, ctx, on_start, on_done) -> list:
        import ray

        if not cells:
            return []
        if self.workers and self.workers > 1:
            self._refuse_sqlite(ctx, min(self.workers, len(cells)))
        ctx = dataclasses.replace(ctx, results_dir=str(Path(ctx.results_dir).resolve()),
                                  cache_dir=str(Path(ctx.cache_dir).resolve()))
        started = not ray.is_initialized()
        if started:
            try:
                ray.init(address=self.address, num_cpus=self.num_cpus if self.address is None else None,
                         include_dashboard=False, log_to_driver=ctx.progress)
            except ConnectionError as e:
                raise ExecutorError(f"ray executor: no Ray cluster at {self.address!r}: {e}") from e
        try:
            cluster = ray.cluster_resources()
            use_gpu = self._uses_gpu(ctx, cluster)
            n = self._concurrency(cells, use_gpu, cluster)
            self._refuse_sqlite(ctx, n)
            return self._dispatch(ray, cells, ctx, n, use_gpu, on_start, on_done)
        finally:
            if started:
                ray.shutdown()

    def _dispatch(self, ray, cells, ctx, n: int, use_gpu: bool, on_start, on_done) -> list:
        task = ray.remote(_run_remote)
        pending = list(cells)
        in_flight: dict = {}
        results = []
        while pending or in_flight:
            while pending and len(in_flight) < n:
                cell = pending.pop(0)
                ref = task.options(**self._resources(cell, use_gpu), max_retries=self.max_retries,
                                   retry_exceptions=False, name=cell.label).remote(cell, ctx, self.worker_setup)
                in_flight[ref] = cell
                on_start(cell)
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                cell = in_flight.pop(ref)
                res = self._result(ray, ref, cell, ctx)
                on_done(cell, res)
                results.append(res)
        return results

    def _result(self, ray, ref, cell, ctx):
        from bench.harness.runner import CellResult

        key = cell.key(ctx.data_fingerprint)
        try:
            res = ray.get(ref)
        except ray.exceptions.RayError as e:
            died = isinstance(e, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                                  ray.exceptions.OutOfMemoryError, ray.exceptions.LocalRayletDiedError))
            cause = getattr(e, "cause", None)
            text = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else str(e)
            first = (text.strip().splitlines() or [""])[0][:300]
            why = f"worker died: {type(e).__name__}: {first}" if died else f"ray: {type(e).__name__}: {first}"
            if self.max_retries:
                why += f" (after {self.max_retries} retries)"
            run_id = close_dead_runs(ctx, key, keep=None, reason=why)
            return CellResult(cell.label, key, "FAILED", run_id, error=why)
        close_dead_runs(ctx, key, keep=res.run_id, reason="worker died (task retried)")
        return res


def close_dead_runs(ctx, key: str, keep: str | None, reason: str) -> str:
    """Mark the cell's runs still RUNNING (attempts whose worker died mid-cell) FAILED with `reason`, except
    `keep`; returns the newest closed run id ('' if none)."""
    from bench.harness import tracking

    client = tracking.client_for(ctx.tracking_uri)
    runs = client.search_runs([ctx.experiment_id], filter_string=f"tags.cell_key = '{key}'",
                              order_by=["attributes.start_time DESC"], max_results=100)
    closed = ""
    for r in runs:
        if r.info.status == "RUNNING" and r.info.run_id != keep:
            tracking.set_tags(client, r.info.run_id, {"status_reason": reason})
            client.set_terminated(r.info.run_id, "FAILED")
            closed = closed or r.info.run_id
    return closed
