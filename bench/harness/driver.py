"""The grid driver: expand a grid, skip finished cells (resume), dispatch the rest to an executor, summarise.

The same for every executor: the experiment is created once here; cells whose key already has a FINISHED run are
skipped unless `rerun`; the cohorts and representation entries of the pending cells are prepared once, before the
first cell (bench/harness/prepare.py); the exit status is non-zero when any cell failed.

Concurrency: before running, the driver takes each pending cell's lease (`tracking.CellLeases`, a lock file in
`<results>/leases/` held until the grid ends or the process dies). A cell leased by another live `run` is skipped
and reported as such; a cell that the other run finished meanwhile is skipped as done. Runs left RUNNING are closed
as KILLED only for cells whose lease this driver holds, i.e. whose owner is dead, so a second `run` on the same
results folder never closes a live run nor trains a cell twice.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.harness.grid import Cell, Grid, Skipped
from bench.harness.runner import CellResult, RunContext


@dataclass
class GridState:
    grid: Grid
    cells: list[Cell]
    skipped: list[Skipped]
    keys: dict[str, str]  # cell label -> key
    status: dict[str, str]  # cell label -> done | failed | pending
    runs: dict[str, list]
    experiment_id: str
    tracking_uri: str
    data_fingerprint: str


def grid_state(grid: Grid, tracking_uri: str, results_dir: Path) -> GridState:
    from bench.harness import tracking
    from bench.data.fingerprint import data_fingerprint

    cells, skipped = grid.expand()
    fp = data_fingerprint(grid.source)
    client = tracking.client_for(tracking_uri)
    artifact_root = (results_dir.resolve() / "mlruns").as_uri() if tracking.is_local_store(tracking_uri) else None
    exp_id = tracking.ensure_experiment(client, grid.experiment, artifact_root)
    runs = tracking.runs_by_key(client, exp_id)
    keys = {c.label: c.key(fp) for c in cells}
    status = {c.label: tracking.cell_status(runs.get(keys[c.label])) for c in cells}
    return GridState(grid, cells, skipped, keys, status, runs, exp_id, tracking_uri, fp)


def run_grid(grid: Grid, *, tracking_uri: str, results_dir: Path, cache_dir: Path, device: str = "auto",
             rerun: bool = False, max_cells: int | None = None, executor: str = "local",
             executor_options: dict | None = None, progress: bool = True, out=sys.stdout) -> int:
    from bench.harness import tracking

    from bench.harness.provenance import code_tags

    results_dir.mkdir(parents=True, exist_ok=True)
    tracking.check_tracking_uri(tracking_uri)
    code_tags()  # the checkout's commit as this process starts: every run of this invocation is tagged with it
    state = grid_state(grid, tracking_uri, results_dir)
    leases = tracking.CellLeases(results_dir)
    if grid.description:  # shown as the experiment's description in the MLflow UI
        tracking.client_for(tracking_uri).set_experiment_tag(state.experiment_id, "mlflow.note.content",
                                                             grid.description)
    try:
        todo, elsewhere = _lease_cells(state, leases, rerun, max_cells)
        n_done_before = sum(s == "done" for s in state.status.values())
        print(f"grid {grid.name}: {len(state.cells)} cells ({n_done_before} done, {len(todo)} to run, "
              f"{len(elsewhere)} being run by another process, {len(state.skipped)} incompatible pairs skipped); "
              f"source {grid.source}", file=out, flush=True)
        if todo:
            from bench.harness.prepare import prepare_cells

            if progress:
                print("preparing: cohorts and representation entries of the pending cells ...", file=out, flush=True)
            print(prepare_cells(todo, str(cache_dir)).summary(), file=out, flush=True)
        results = _execute(state, todo, device=device, cache_dir=cache_dir, results_dir=results_dir,
                           executor=executor, executor_options=executor_options, progress=progress)
    finally:
        leases.release_all()
    by_label = {r.label: r for r in results}
    rows = []
    for c in state.cells:
        r = by_label.get(c.label)
        if r is None and c.label in elsewhere:
            rows.append((c.label, "skipped: leased by another run", "", "", ""))
        elif r is None:
            rows.append((c.label, "done (skipped)" if state.status[c.label] == "done" else "not run", "", "", ""))
        else:
            val = "" if math.isnan(r.primary_value) else f"{r.primary_value:.3f}"
            rows.append((c.label, r.status, r.primary_metric, val, f"{r.wall_s:.1f}"))
    print_table(["cell", "status", "metric", "value", "wall s"], rows, out)
    failed = [r for r in results if r.status != "FINISHED"]
    for r in failed:
        print(f"FAILED {r.label}: {r.error}", file=out)
    for label, holder in elsewhere.items():
        print(f"SKIPPED {label}: leased by {holder} (left to that run)", file=out)
    print(f"\nresults: {results_dir.resolve()}\ntracking: {tracking_uri}\n"
          f"browse:  python -m bench ui --results {results_dir}   (then open http://127.0.0.1:5000)", file=out)
    return 1 if failed else 0


def _lease_cells(state: GridState, leases, rerun: bool, max_cells: int | None) -> tuple[list[Cell], dict]:
    """Lease the cells this invocation will run -> (cells to run, {label: holder} of cells another run holds).

    Statuses are read again once the leases are held: another run may have finished a cell since `grid_state`."""
    from bench.harness import tracking

    todo, elsewhere = [], {}
    for c in state.cells:
        if max_cells is not None and len(todo) >= max_cells:
            break
        if not rerun and state.status[c.label] == "done":
            continue
        holder = leases.acquire(state.keys[c.label], c.label)
        if holder is None:
            todo.append(c)
        else:
            elsewhere[c.label] = holder
    if todo:
        client = tracking.client_for(state.tracking_uri)
        state.runs = tracking.runs_by_key(client, state.experiment_id)
        for c in todo:
            state.status[c.label] = tracking.cell_status(state.runs.get(state.keys[c.label]))
        if not rerun:
            for c in [c for c in todo if state.status[c.label] == "done"]:
                leases.release(state.keys[c.label])
                todo.remove(c)
    return todo, elsewhere


def _execute(state: GridState, todo: list[Cell], *, device, cache_dir, results_dir, executor,
             executor_options, progress) -> list[CellResult]:
    """Close the runs a dead owner left RUNNING in the leased cells, then run the cells on the executor."""
    from bench.harness import tracking
    from bench.harness.executors import EXECUTORS
    from bench.harness.progress import CellProgress

    client = tracking.client_for(state.tracking_uri)
    for c in todo:  # we hold the lease, so whoever left these RUNNING is dead
        for r in state.runs.get(state.keys[c.label], []):
            if r.info.status == "RUNNING":
                tracking.set_tags(client, r.info.run_id,
                                  {"status_reason": "interrupted (its process died); cell run again"})
                client.set_terminated(r.info.run_id, "KILLED")
    ctx = RunContext(tracking_uri=state.tracking_uri, experiment_id=state.experiment_id,
                     results_dir=str(results_dir), cache_dir=str(cache_dir), device=device,
                     data_fingerprint=state.data_fingerprint, progress=progress)
    bar = CellProgress(len(todo), enabled=progress)
    try:
        if not todo:
            return []
        ex = EXECUTORS.get(executor)(**(executor_options or {}))
        return ex.run(todo, ctx, on_start=lambda c: bar.start(c.label),
                      on_done=lambda c, r: bar.finish(c.label, r.status, r.wall_s))
    finally:
        bar.close()


def print_table(header: list[str], rows: list[tuple], out=sys.stdout) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*header), file=out)
    print(fmt.format(*["-" * w for w in widths]), file=out)
    for row in rows:
        print(fmt.format(*[str(x) for x in row]), file=out)
