"""Batches for the training loop, read from the memory-mapped representation cache one step ahead of the model.

A background thread gathers each batch's rows from the memmap (ascending row order, the page cache's friend),
turns them and the batch's targets into tensors and, on CUDA, pins them; the training thread then only issues
non-blocking host-to-device copies. uint8 images travel as uint8 and become float on the device (a quarter of the
bytes over PCIe). On the CPU there is no thread: batches are read between steps (see `prefetch_batches`).

Why not `torch.utils.data.DataLoader`: its workers are processes that pickle every batch back to the trainer and
start anew per cell, while the gather here is one numpy fancy index that releases the GIL, so one thread keeps
several times ahead of a GPU-sized model (benchmarks/test_loader.py), with no start-up cost per cell.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

_DONE = object()


def read_rows(features: np.ndarray, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """`features[rows]` from a (memory-mapped) array into `out` (allocated when None), read in ascending row
    order and returned in the order asked. Row by row into the destination: one copy, no temporary (a fancy index
    would gather into a temporary first, three times slower for 512-px images)."""
    rows = np.asarray(rows)
    if out is None:
        out = np.empty((len(rows), *features.shape[1:]), dtype=features.dtype)
    for j in np.argsort(rows, kind="stable"):
        out[j] = features[rows[j]]
    return out


def to_model_input(x: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """A host batch on `device` as float32 (uint8 images scaled to 0..1 after the copy), in the model's memory
    format (channels_last only applies to image batches)."""
    x = x.to(device, non_blocking=True)
    x = torch.div(x, 255.0) if x.dtype == torch.uint8 else x.float()  # one pass, same bits as .float() / 255
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


@dataclass
class Batch:
    positions: np.ndarray  # positions in `rows` (and in the targets aligned with them)
    x: torch.Tensor  # on the host: uint8 or float32, pinned on CUDA
    y: dict[str, torch.Tensor]


def _host_batch(features, rows, targets, positions, pin: bool, to_float: bool) -> Batch:
    """Gather one batch on the host; with `pin`, straight into page-locked memory (torch's caching host allocator
    keeps such a block from reuse until the non-blocking copies reading it have run)."""
    shape = (len(positions), *features.shape[1:])
    if pin:
        x = torch.empty(shape, dtype=torch.from_numpy(np.empty(0, features.dtype)).dtype, pin_memory=True)
        read_rows(features, rows[positions], out=x.numpy())
    else:
        x = torch.from_numpy(read_rows(features, rows[positions]))
    if to_float and x.dtype == torch.uint8:
        x = torch.div(x, 255.0)
    y = {k: torch.from_numpy(np.asarray(v[positions], dtype=np.float32)) for k, v in (targets or {}).items()}
    if pin:
        y = {k: v.pin_memory() for k, v in y.items()}
    return Batch(positions, x, y)


def prefetch_batches(features: np.ndarray, rows: np.ndarray, batches: list[np.ndarray], device: torch.device,
                     targets: dict[str, np.ndarray] | None = None, *, channels_last: bool = False,
                     depth: int = 2) -> Iterator[tuple[np.ndarray, torch.Tensor, dict[str, torch.Tensor]]]:
    """Yield `(positions, x, y)` on `device` for each array of positions in `batches` (indices into `rows`), in
    order. On CUDA the next `depth` batches are read by a background thread while the caller works on the current
    one (an error in the thread is raised here; leaving the loop early stops the thread). On the CPU each batch is
    read in the caller's thread: torch's intra-op threads occupy every core there, and a gather thread beside them
    slowed training by ~15 % on 2 cores (benchmarks/test_train_loop.py) for a copy of a few milliseconds a batch."""
    cuda = device.type == "cuda"
    if not cuda:  # the model's intra-op threads already fill the cores: a gather thread would only compete
        for pos in batches:
            b = _host_batch(features, rows, targets, pos, pin=False, to_float=True)
            yield b.positions, to_model_input(b.x, device, channels_last), b.y
        return
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for pos in batches:
                if stop.is_set():
                    return
                q.put(_host_batch(features, rows, targets, pos, pin=cuda, to_float=not cuda))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            q.put(e)
            return
        q.put(_DONE)

    thread = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            y = {k: v.to(device, non_blocking=True) for k, v in item.y.items()}
            yield item.positions, to_model_input(item.x, device, channels_last), y
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.01)


def sequential_batches(n: int, batch_size: int) -> list[np.ndarray]:
    """Positions 0..n-1 cut into consecutive batches (evaluation order)."""
    return [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
