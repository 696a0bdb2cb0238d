"""Training loop for one cell: Adam + OneCycle, best epoch on the validation primary metric, early stopping.

Device-agnostic. Batches come from the cached representation rows through a background prefetch thread
(`bench.harness.loader`), so nothing is re-rendered per epoch and the next batch is read while this one trains.
On CUDA: mixed precision when `[train] amp` (bfloat16 where the GPU has it, else float16 with a GradScaler),
`cudnn.benchmark`, optionally channels_last for image models (`[train] channels_last`) and `torch.compile`
(`[train] compile`). On CPU: float32, so a cell gives the same metrics at the same thread count.
The loop never waits on the device inside an epoch: losses are summed on the device and checked once per epoch.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch

from bench.harness.splits import Part
from bench.harness.loader import prefetch_batches, read_rows, sequential_batches, to_model_input


def as_input(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """A numpy batch of model inputs as a float tensor on `device` (uint8 images scaled to 0..1)."""
    return to_model_input(torch.from_numpy(np.ascontiguousarray(batch)), device)


def autocast_dtype(device: torch.device, amp: bool = True) -> torch.dtype | None:
    """The mixed-precision dtype for `device`, or None for float32: bfloat16 on GPUs that have it (no loss
    scaling needed), float16 on older ones; never on CPU (CPU metrics stay float32 and reproducible)."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def prepare_model(model: torch.nn.Module, device: torch.device, cfg: dict) -> torch.nn.Module:
    """Move `model` to `device` (in place) in the memory format asked; return the module to call, compiled when
    `cfg["compile"]`. The returned module shares its parameters with `model`."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes per cell: let cuDNN pick the fastest kernels
    model.to(device)
    if cfg.get("channels_last"):
        model.to(memory_format=torch.channels_last)  # only 4-D weights change; 1-D models are unaffected
    return torch.compile(model) if cfg.get("compile") else model


def _channels_last(model: torch.nn.Module) -> bool:
    """Whether the model's image convolutions are in channels_last, so inputs should follow."""
    for p in model.parameters():
        if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] * p.shape[3] > 1:  # both layouts differ only here
            return not p.is_contiguous()
    return False


def _forward(model, x: torch.Tensor, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
        out = model(x)
    return {k: v.float() for k, v in out.items()}


@torch.no_grad()
def _evaluation_pass(model, task, features: np.ndarray, rows: np.ndarray, targets: dict[str, np.ndarray] | None,
                     device: torch.device, batch_size: int, dtype: torch.dtype | None,
                     channels_last: bool) -> tuple[dict[str, np.ndarray], float]:
    """One forward pass over `features[rows]`: raw head outputs (numpy, in the order of `rows`) and, when
    `targets` are given, the mean task loss."""
    model.eval()
    chunks: dict[str, list[torch.Tensor]] = {}
    total = torch.zeros((), dtype=torch.float64, device=device)
    for pos, x, y in prefetch_batches(features, rows, sequential_batches(len(rows), batch_size), device, targets,
                                      channels_last=channels_last):
        out = _forward(model, x, dtype)
        if targets is not None:
            total += task.loss(out, y).double() * len(pos)
        for k, v in out.items():
            chunks.setdefault(k, []).append(v.detach())
    outputs = {k: torch.cat(v).cpu().numpy() for k, v in chunks.items()}
    return outputs, float(total) / max(len(rows), 1)


def predict_outputs(model: torch.nn.Module, features: np.ndarray, rows: np.ndarray, device: torch.device,
                    batch_size: int, amp: bool = True) -> dict[str, np.ndarray]:
    """Raw head outputs for `features[rows]`, as numpy, in the order of `rows`."""
    return _evaluation_pass(model, None, features, rows, None, device, batch_size, autocast_dtype(device, amp),
                            _channels_last(model))[0]


@dataclass
class TrainResult:
    best_epoch: int
    best_val: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


@dataclass
class _Optimisation:
    """Optimiser, schedule and loss scaling of one training run."""

    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler | None
    scaler: torch.amp.GradScaler
    dtype: torch.dtype | None

    def step(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.sched is not None and self.sched.last_epoch + 1 < self.sched.total_steps:
            self.sched.step()


def _optimisation(model, cfg: dict, steps_per_epoch: int, device: torch.device) -> _Optimisation:
    lr = float(cfg["lr"])
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=float(cfg.get("weight_decay", 0)))
    sched = None
    if cfg.get("schedule", "onecycle") == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr,
                                                    total_steps=max(1, steps_per_epoch * int(cfg["epochs"])))
    dtype = autocast_dtype(device, bool(cfg.get("amp", True)))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)  # bfloat16 needs no scaling
    return _Optimisation(opt, sched, scaler, dtype)


def _epoch_batches(idx: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive batches of the epoch's shuffled positions; a batch of one is dropped (it breaks batch norm)."""
    batches = [idx[b:b + batch_size] for b in range(0, len(idx), batch_size)]
    return [s for s in batches if len(s) >= 2 or len(idx) == 1]


def _train_epoch(step_model, task, features, rows, targets, batches, device, optim: _Optimisation,
                 channels_last: bool, epoch: int) -> float:
    """One pass over `batches`; returns the mean training loss. Raises FloatingPointError naming the first batch
    whose loss was not finite (checked once, after the epoch, so the device is never waited on mid-epoch)."""
    step_model.train()
    losses = []
    sizes = []
    for pos, x, y in prefetch_batches(features, rows, batches, device, targets, channels_last=channels_last):
        loss = task.loss(_forward(step_model, x, optim.dtype), y)
        optim.step(loss)
        losses.append(loss.detach())
        sizes.append(len(pos))
    if not losses:
        return float("nan")
    per_batch = torch.stack(losses).cpu()
    bad = torch.nonzero(~torch.isfinite(per_batch))
    if len(bad):
        b = int(bad[0])
        raise FloatingPointError(f"training loss is {float(per_batch[b])} at epoch {epoch}, batch {b}")
    return float((per_batch.double() * torch.tensor(sizes, dtype=torch.float64)).sum()) / sum(sizes)


def _validate(model, task, features, rows, records, targets, device, batch_size, dtype,
              channels_last) -> tuple[dict[str, float], float]:
    """Validation loss and metrics (one forward pass); returns (record of `val/*`, primary metric)."""
    outputs, val_loss = _evaluation_pass(model, task, features, rows, targets, device, batch_size, dtype,
                                         channels_last)
    metrics = task.evaluate(records.reset_index(drop=True), pd.DataFrame(task.predict(outputs)))
    rec = {"val/loss": val_loss, **{f"val/{k}": float(v) for k, v in metrics.items() if np.isscalar(v)}}
    return rec, float(metrics.get(task.primary_metric, float("nan")))


def train_model(model: torch.nn.Module, task, features: np.ndarray, train: Part, val: Part, *, cfg: dict,
                device: torch.device, seed: int,
                on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train in place; on return the model holds the weights of the best validation epoch.

    `train.rows` / `val.rows` index `features` (the cohort's cached representation); each part's records and
    targets are aligned with its rows (bench/harness/splits.py).
    """
    train_rows, train_records, train_targets = train.rows, train.records, train.targets
    val_rows, val_records, val_targets = val.rows, val.records, val.targets
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    bs = int(cfg["batch_size"])
    eval_bs = int(cfg.get("eval_batch_size") or bs)
    steps = math.ceil(len(task.epoch_indices(train_records, np.random.default_rng(seed))) / bs)
    if int(cfg.get("max_train_batches") or 0):
        steps = min(steps, int(cfg["max_train_batches"]))
    step_model = prepare_model(model, device, cfg)
    channels_last = _channels_last(model)
    optim = _optimisation(model, cfg, steps, device)
    sign = 1.0 if task.higher_is_better else -1.0
    best = TrainResult(best_epoch=-1, best_val=float("nan"))
    best_score, best_state, since_best = -math.inf, None, 0
    patience = int(cfg.get("patience") or 0)
    for epoch in range(int(cfg["epochs"])):
        idx = rng.permutation(task.epoch_indices(train_records, rng))[: steps * bs]
        train_loss = _train_epoch(step_model, task, features, train_rows, train_targets, _epoch_batches(idx, bs),
                                  device, optim, channels_last, epoch)
        rec, primary = _validate(model, task, features, val_rows, val_records, val_targets, device, eval_bs,
                                 optim.dtype, channels_last)
        rec = {"train/loss": train_loss, "val/loss": rec.pop("val/loss"),
               "train/lr": optim.opt.param_groups[0]["lr"], **rec}
        best.history.append(rec)
        # an undefined validation metric (one class in a tiny split) falls back to the validation loss
        score = sign * primary if math.isfinite(primary) else -rec["val/loss"]
        if best.best_epoch < 0 or score > best_score:
            best.best_epoch, best.best_val, best_score = epoch, primary, score
            best_state = copy.deepcopy(model.state_dict())
            since_best = 0
        else:
            since_best += 1
        if on_epoch:
            on_epoch(epoch, rec)
        if patience and since_best >= patience:
            best.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return best
