"""Training loop for one cell: Adam + OneCycle, best epoch on the validation primary metric, early stopping.

Device-agnostic: on CUDA, mixed precision (autocast + GradScaler); on CPU, float32. Features are the cached
representation rows (float32, or uint8 images scaled to 0..1 here), so nothing is re-rendered per epoch.
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


def as_input(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(batch))
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    return x.to(device, non_blocking=True)


def _targets(targets: dict[str, np.ndarray], idx: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v[idx], dtype=np.float32)).to(device) for k, v in targets.items()}


def _read_rows(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Gather rows from a (memory-mapped) array in ascending order, then restore the requested order."""
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), *features.shape[1:]), dtype=features.dtype)
    out[order] = features[rows[order]]
    return out


@torch.no_grad()
def predict_outputs(model: torch.nn.Module, features: np.ndarray, rows: np.ndarray, device: torch.device,
                    batch_size: int) -> dict[str, np.ndarray]:
    """Raw head outputs for `features[rows]`, as numpy, in the order of `rows`."""
    model.eval()
    chunks: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(rows), batch_size):
        x = as_input(_read_rows(features, rows[i:i + batch_size]), device)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            out = model(x)
        for k, v in out.items():
            chunks.setdefault(k, []).append(v.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in chunks.items()}


def evaluate_loss(model, task, features, rows, targets, device, batch_size) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            sel = np.arange(i, min(i + batch_size, len(rows)))
            x = as_input(_read_rows(features, rows[sel]), device)
            with torch.autocast(device.type, enabled=device.type == "cuda"):
                out = model(x)
            loss = task.loss({k: v.float() for k, v in out.items()}, _targets(targets, sel, device))
            total += float(loss) * len(sel)
            n += len(sel)
    return total / max(n, 1)


@dataclass
class TrainResult:
    best_epoch: int
    best_val: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


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
    epochs = int(cfg["epochs"])
    max_batches = int(cfg.get("max_train_batches") or 0)
    eval_bs = int(cfg.get("eval_batch_size") or bs)
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg.get("weight_decay", 0)))
    n_epoch = len(task.epoch_indices(train_records, np.random.default_rng(seed)))
    steps = math.ceil(n_epoch / bs)
    if max_batches:
        steps = min(steps, max_batches)
    sched = None
    if cfg.get("schedule", "onecycle") == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=float(cfg["lr"]), total_steps=max(1, steps * epochs))
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    sign = 1.0 if task.higher_is_better else -1.0
    best = TrainResult(best_epoch=-1, best_val=float("nan"))
    best_score = -math.inf
    best_state = None
    patience = int(cfg.get("patience") or 0)
    since_best = 0
    history: list[dict[str, float]] = []
    for epoch in range(epochs):
        model.train()
        idx = rng.permutation(task.epoch_indices(train_records, rng))[: steps * bs]
        run_loss, seen = 0.0, 0
        for b in range(0, len(idx), bs):
            sel = idx[b:b + bs]
            if len(sel) < 2 and len(idx) > 1:  # a batch of one breaks batch norm
                continue
            x = as_input(_read_rows(features, train_rows[sel]), device)
            y = _targets(train_targets, sel, device)
            with torch.autocast(device.type, enabled=use_amp):
                out = model(x)
            loss = task.loss({k: v.float() for k, v in out.items()}, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {float(loss)} at epoch {epoch}, batch {b // bs}")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if sched is not None and sched.last_epoch + 1 < sched.total_steps:
                sched.step()
            run_loss += float(loss.detach()) * len(sel)
            seen += len(sel)
        val_loss = evaluate_loss(model, task, features, val_rows, val_targets, device, eval_bs)
        outputs = predict_outputs(model, features, val_rows, device, eval_bs)
        val_scores = pd.DataFrame(task.predict(outputs))
        val_metrics = task.evaluate(val_records.reset_index(drop=True), val_scores)
        primary = float(val_metrics.get(task.primary_metric, float("nan")))
        rec = {"train/loss": run_loss / max(seen, 1), "val/loss": val_loss,
               "train/lr": opt.param_groups[0]["lr"]}
        rec.update({f"val/{k}": float(v) for k, v in val_metrics.items() if np.isscalar(v)})
        history.append(rec)
        # an undefined validation metric (one class in a tiny split) falls back to the validation loss
        score = sign * primary if math.isfinite(primary) else -val_loss
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
    best.history = history
    return best
