"""`python -m bench timing --grid G [--out DIR]`: training-time ratios of image vs matrix models measured within one
process, written to `DIR/timing.csv`, which `python -m bench tables --out DIR` reads for the `matrix_vs_image`
table's train-time ratio.

The cells' own `compute/train_s` come from runs made hours apart, possibly on a loaded machine, so their ratio
mixes the models' cost with the machine's state. Here, per task of the grid, every image (representation, model)
pair is set against every matrix (raw sequence) pair: both models are built as the grid's cells build them and
trained for the same number of steps on the same real ECGs of the grid's source (the representation computed for
them, fitted on them), back to back, alternating A, B, A, B for `--repeats` rounds after one untimed warm-up
round, with the training loop's own epoch function (loader, mixed precision and optimiser as in a cell). Each
round is timed with CUDA events on a GPU, `time.perf_counter` on a CPU. The ratio is the median over rounds of
A's time per training ECG over B's, with its range over rounds.
"""
from __future__ import annotations

import time
from pathlib import Path

from bench.commands._common import add_store_options, at_least_one, resolve_paths

TIMING_CSV = "timing.csv"


def register(sub) -> None:
    p = sub.add_parser("timing", help="time image vs matrix models back to back in one process (timing.csv)",
                       description="For each task of the grid, train every image model and every matrix model "
                                   "for a few steps on the same ECGs, alternating, in this process; write the "
                                   "median time per training ECG of each and their ratio to <out>/timing.csv "
                                   "(read by `bench tables`).")
    p.add_argument("--grid", required=True, help="built-in grid name or a TOML file path")
    add_store_options(p)
    p.add_argument("--out", type=Path, default=None, help="folder for timing.csv (default: the results folder)")
    p.add_argument("--source", default=None, help="override the grid's data source")
    p.add_argument("--cache", type=Path, default=None,
                   help="cohort cache (default: $BENCH_CACHE, else <results>/cache)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto = CUDA when present")
    p.add_argument("--n-ecgs", type=at_least_one, default=64, help="ECGs the models train on (default 64)")
    p.add_argument("--steps", type=at_least_one, default=4, help="training steps per timed round (default 4)")
    p.add_argument("--repeats", type=at_least_one, default=5, help="timed A,B rounds per pair (default 5)")
    p.set_defaults(func=main)


def main(args) -> int:
    import pandas as pd
    import torch

    from bench.base.errors import UsageError
    from bench.harness.compute import resolve_device
    from bench.harness.grid import load_grid

    paths = resolve_paths(args)
    grid = load_grid(args.grid, source=args.source)
    pairs = image_matrix_pairs(grid.expand()[0])
    if not pairs:
        raise UsageError(f"grid {grid.name!r}: no task has both an image and a matrix (raw sequence) "
                         "representation, so there is no pair to time")
    device = resolve_device(args.device)
    threads = next((int(a.train["num_threads"]) for a, _ in pairs if a.train.get("num_threads")), None)
    if threads:  # as the cells ran: CPU step times depend on the thread count
        torch.set_num_threads(threads)
    rows = time_pairs(pairs, cache_dir=str(paths.cache), device=device, n_ecgs=args.n_ecgs, steps=args.steps,
                      repeats=args.repeats)
    out = Path(args.out or paths.results)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / TIMING_CSV, index=False, float_format="%.6g")
    for r in rows:
        print(f"{r['task']}: {r['image']} vs {r['matrix']}: {r['ratio']:.2f}x "
              f"[{r['ratio_min']:.2f}, {r['ratio_max']:.2f}]")
    print(f"\n{len(rows)} pairs -> {(out / TIMING_CSV).resolve()}")
    return 0


def image_matrix_pairs(cells) -> list[tuple[object, object]]:
    """(image cell, matrix cell) for every task's image x matrix (raw sequence) pair of models, one cell standing
    for each (task, representation, model): seeds and folds train the same model."""
    from representations import REPRESENTATIONS

    firsts = {}
    for c in cells:
        firsts.setdefault((c.task.id, c.representation.id, c.model.id), c)
    kind = {k: REPRESENTATIONS.entry(c.representation.name).info["kind"] for k, c in firsts.items()}
    pairs = []
    for task in sorted({k[0] for k in firsts}):
        image = [firsts[k] for k in sorted(firsts) if k[0] == task and kind[k] == "image"]
        matrix = [firsts[k] for k in sorted(firsts) if k[0] == task and kind[k] == "sequence"]
        pairs += [(a, b) for a in image for b in matrix]
    return pairs


def time_pairs(pairs, *, cache_dir: str, device, n_ecgs: int, steps: int, repeats: int) -> list[dict]:
    """One row per (image cell, matrix cell) pair: median ms per training ECG of each, the ratio image / matrix
    (median over rounds) and its range over rounds."""
    inputs: dict[tuple[str, str], tuple] = {}  # (task, representation) -> the inputs both sides train on
    rows = []
    for a, b in pairs:
        for c in (a, b):
            if (c.task.id, c.representation.id) not in inputs:
                inputs[c.task.id, c.representation.id] = _inputs(c, cache_dir, n_ecgs)
        ms_a, ms_b = _alternate([_trainer(c, inputs[c.task.id, c.representation.id], device, steps) for c in (a, b)],
                                device, repeats)
        ratio = [x / y for x, y in zip(ms_a, ms_b)]
        rows.append({"task": a.task.id, "image": f"{a.representation.id} / {a.model.id}",
                     "matrix": f"{b.representation.id} / {b.model.id}",
                     "image_ms_per_ecg": _median(ms_a), "matrix_ms_per_ecg": _median(ms_b),
                     "ratio": _median(ratio), "ratio_min": min(ratio), "ratio_max": max(ratio),
                     "repeats": repeats, "steps": steps, "n_ecgs": len(inputs[a.task.id, a.representation.id][1]),
                     "device": device.type})
    return rows


def _median(values: list[float]) -> float:
    import numpy as np

    return float(np.median(values))


def _inputs(cell, cache_dir: str, n_ecgs: int):
    """(task, records, features, targets) for the first `n_ecgs` of the task's ECGs in a seeded order; the
    representation is fitted on them (timing needs real inputs, not a model of the data)."""
    import numpy as np
    from sklearn.base import clone

    from bench.harness.cell_data import cached_cohort
    from representations import REPRESENTATIONS
    from tasks import TASKS

    cohort = cached_cohort(cell.source, cache_dir)
    task = TASKS.get(cell.task.name)(**cell.task.params)
    sub = np.flatnonzero(np.asarray(task.select(cohort.records), dtype=bool))
    sub = np.sort(np.random.default_rng(cell.seed).permutation(sub)[:n_ecgs])
    records = cohort.records.iloc[sub].reset_index(drop=True)
    rep = clone(REPRESENTATIONS.get(cell.representation.name)(**cell.representation.params))
    signals = np.asarray(cohort.signals[sub])
    features = np.asarray(rep.fit(signals).transform(signals))
    return task, records, features, task.encode(records)


def _trainer(cell, inputs, device, steps: int):
    """A function running `steps` training steps of the cell's model (its optimiser and loop), returning how many
    ECGs it trained on."""
    import numpy as np
    import torch

    from bench.harness.train import _channels_last, _optimisation, _train_epoch, prepare_model
    from models import MODELS

    task, records, features, targets = inputs
    torch.manual_seed(cell.seed)
    model = MODELS.get(cell.model.name)(tuple(features.shape[1:]), dict(task.heads),
                                        **{k: v for k, v in cell.model.params.items() if v is not None})
    step_model = prepare_model(model, device, cell.train)
    optim = _optimisation(model, cell.train, steps, device)
    bs = min(int(cell.train["batch_size"]), len(features))
    rng = np.random.default_rng(cell.seed)
    batches = [rng.choice(len(features), size=bs, replace=False) for _ in range(steps)]
    rows, channels_last = np.arange(len(features)), _channels_last(model)

    def run() -> int:
        _train_epoch(step_model, task, features, rows, targets, batches, device, optim, channels_last, 0)
        return steps * bs

    return run


def _alternate(trainers, device, repeats: int) -> tuple[list[float], list[float]]:
    """ms per training ECG of each trainer per round, rounds A, B, A, B, ... after one untimed warm-up round."""
    for run in trainers:
        run()
    out: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, ms in zip(trainers, out):
            ms.append(_timed(run, device))
    return out


def _timed(run, device) -> float:
    """ms per ECG of one call of `run` (CUDA events on a GPU, perf_counter on a CPU)."""
    if device.type == "cuda":
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        n = run()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / n
    t0 = time.perf_counter()
    n = run()
    return 1000 * (time.perf_counter() - t0) / n
