"""The harness's training loop against a bare PyTorch loop doing the same work: goal within 5 %.

Same model (cnn1d, same initial weights), same batches in the same order, same optimiser and schedule (Adam +
OneCycle), same loss (the task's), same validation forward pass per epoch; 256 raw ECGs, batch 32, 2 epochs. The
bare loop keeps the whole training set in one in-memory float tensor and indexes it, the fastest a loop can read;
the harness reads the memory-mapped cache batch by batch (on the CPU in the training thread) and also scores
validation each epoch.
Rounds alternate between the two so machine load hits both alike; the ratio of medians is the figure.

Run: pytest benchmarks/test_train_loop.py --benchmark-enable -s
`extra_info`: `harness_s`, `bare_s` (medians), `ratio` (harness / bare), `ecgs`, `epochs`.
"""
from __future__ import annotations

import math
import statistics
import time

import numpy as np
import pytest
import torch

from bench.data.simulator import simulate
from bench.harness.splits import Part
from bench.harness.train import train_model
from models import MODELS
from tasks import TASKS

N_TRAIN, N_VAL, EPOCHS, BATCH, ROUNDS = 256, 64, 2, 32, 3
CFG = {"epochs": EPOCHS, "batch_size": BATCH, "lr": 1e-3, "patience": 0, "eval_batch_size": 64}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    records, signals, _ = simulate(60, seed=31)
    rng = np.random.default_rng(0)
    n = N_TRAIN + N_VAL
    tile = np.resize(np.arange(len(signals)), n)
    features = signals[tile] + rng.normal(0, 0.01, (n, 1, 5000)).astype(np.float32)
    path = tmp_path_factory.mktemp("cache") / "features.npy"
    np.save(path, features.astype(np.float32))
    records = records.iloc[tile].reset_index(drop=True)
    records["patient_id"] = np.arange(n).astype(str)  # tiled copies stand for distinct patients
    return np.load(path, mmap_mode="r"), records


def _bare_loop(model, task, x_all: torch.Tensor, targets, train_idx, val_idx, seed: int) -> None:
    """A plain PyTorch loop: the reference the harness is measured against."""
    rng = np.random.default_rng(seed)
    steps = math.ceil(len(train_idx) / BATCH)
    opt = torch.optim.Adam(model.parameters(), lr=CFG["lr"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=CFG["lr"], total_steps=steps * EPOCHS)
    y_all = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in targets.items()}
    for _ in range(EPOCHS):
        model.train()
        order = rng.permutation(len(train_idx))  # the harness's shuffle (mi trains on every ECG)
        for b in range(0, len(order), BATCH):
            sel = torch.from_numpy(train_idx[order[b:b + BATCH]])
            loss = task.loss(model(x_all[sel]), {k: v[sel] for k, v in y_all.items()})
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched.last_epoch + 1 < sched.total_steps:
                sched.step()
        model.eval()
        with torch.no_grad():
            for b in range(0, len(val_idx), CFG["eval_batch_size"]):
                sel = torch.from_numpy(val_idx[b:b + CFG["eval_batch_size"]])
                task.loss(model(x_all[sel]), {k: v[sel] for k, v in y_all.items()})


def _part(name: str, records, targets, idx: np.ndarray) -> Part:
    return Part(name, records.iloc[idx].reset_index(drop=True), idx, {k: np.asarray(v)[idx] for k, v in targets.items()})


def test_training_loop_within_5_percent_of_bare_pytorch(benchmark, data):
    torch.set_num_threads(2)
    features, records = data
    task = TASKS.get("mi")()
    targets = task.encode(records)
    train_idx, val_idx = np.arange(N_TRAIN), np.arange(N_TRAIN, N_TRAIN + N_VAL)
    x_all = torch.from_numpy(np.array(features))  # the bare loop holds the training set in memory
    torch.manual_seed(0)
    init = MODELS.get("cnn1d")(features.shape[1:], dict(task.heads)).state_dict()

    def fresh():
        m = MODELS.get("cnn1d")(features.shape[1:], dict(task.heads))
        m.load_state_dict(init)
        return m

    def harness():
        train_model(fresh(), task, features, _part("train", records, targets, train_idx),
                    _part("val", records, targets, val_idx), cfg=CFG, device=torch.device("cpu"), seed=0)

    def bare():
        _bare_loop(fresh(), task, x_all, targets, train_idx, val_idx, seed=0)

    times: dict[str, list[float]] = {"harness": [], "bare": []}

    def alternate():
        bare()  # warm-up: first-call allocations and kernel selection
        for _ in range(ROUNDS):
            for name, fn in (("bare", bare), ("harness", harness)):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)

    benchmark.pedantic(alternate, rounds=1, iterations=1)
    h, b = statistics.median(times["harness"]), statistics.median(times["bare"])
    benchmark.extra_info.update(harness_s=round(h, 3), bare_s=round(b, 3), ratio=round(h / b, 4),
                                ecgs=N_TRAIN, epochs=EPOCHS)
    print(f"\ntraining loop: harness {h:.2f} s, bare PyTorch {b:.2f} s (medians of {ROUNDS}), ratio {h / b:.3f}")
    assert h / b < 1.05
