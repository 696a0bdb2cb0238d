"""Run one grid cell: cohort -> patient-wise split -> representation (fitted on train, cached) -> train -> best
epoch on validation -> test evaluation with bootstrap CIs -> one MLflow run.

`run_cell(cell, ctx)` is a pure function of a frozen cell config and a picklable context, so the local loop and
remote executors (Ray) only differ in where it is called. Any exception inside the cell marks its run FAILED with
the traceback as an artifact; the caller goes on with the next cell.
"""
from __future__ import annotations

import json
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.harness.grid import Cell

PREDICTIONS = "predictions.csv"


@dataclass(frozen=True)
class RunContext:
    tracking_uri: str
    experiment_id: str
    results_dir: str
    cache_dir: str
    device: str = "auto"
    data_fingerprint: str = ""
    progress: bool = True


@dataclass
class CellResult:
    label: str
    key: str
    status: str  # FINISHED | FAILED | SKIPPED
    run_id: str = ""
    primary_metric: str = ""
    primary_value: float = float("nan")
    wall_s: float = 0.0
    error: str = ""


_COHORTS: dict[tuple[str, str], object] = {}


def cached_cohort(source: str, cache_dir: str):
    """The cohort of `source`, loaded once per process (sources cache decoded signals on disk too)."""
    from bench.base.cohort import load_cohort

    k = (source, cache_dir)
    if k not in _COHORTS:
        _COHORTS.clear()  # one cohort in memory at a time
        _COHORTS[k] = load_cohort(source, cache_dir=cache_dir)
    return _COHORTS[k]


def run_tags(cell: Cell, key: str) -> dict[str, str]:
    return {"cell_key": key, "task": cell.task.id, "representation": cell.representation.id,
            "model": cell.model.id, "seed": str(cell.seed), "grid": cell.grid, "source": cell.source,
            "mlflow.runName": cell.label}


def run_cell(cell: Cell, ctx: RunContext) -> CellResult:
    from bench.harness import tracking

    t0 = time.perf_counter()
    key = cell.key(ctx.data_fingerprint)
    client = tracking.client_for(ctx.tracking_uri)
    run = client.create_run(ctx.experiment_id, run_name=cell.label, tags=run_tags(cell, key))
    run_id = run.info.run_id
    result = CellResult(cell.label, key, "FAILED", run_id)
    try:
        tracking.log_params(client, run_id, cell.flat_params())
        with tempfile.TemporaryDirectory(prefix="bench-cell-") as tmp:
            primary, value, train_s = _execute(cell, ctx, client, run_id, Path(tmp))
        result.status, result.primary_metric, result.primary_value = "FINISHED", primary, value
        # everything the cell did besides training (data, representation, evaluation, logging)
        tracking.log_metrics(client, run_id, {"compute/overhead_s": time.perf_counter() - t0 - train_s})
        tracking.set_tags(client, run_id, {"status_reason": "ok"})
        client.set_terminated(run_id, "FINISHED")
    except KeyboardInterrupt:
        tracking.set_tags(client, run_id, {"status_reason": "interrupted"})
        client.set_terminated(run_id, "KILLED")
        raise
    except Exception as e:  # noqa: BLE001 - failure isolation: record the cell as FAILED and let the grid go on
        tb = traceback.format_exc()
        result.error = f"{type(e).__name__}: {e}"
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "traceback.txt"
            p.write_text(tb)
            client.log_artifact(run_id, str(p))
        tracking.set_tags(client, run_id, {"status_reason": result.error[:4000]})
        client.set_terminated(run_id, "FAILED")
    result.wall_s = time.perf_counter() - t0
    return result


def _execute(cell: Cell, ctx: RunContext, client, run_id: str, tmp: Path) -> tuple[str, float, float]:
    import torch
    from sklearn.base import clone

    from bench.harness import tracking
    from bench.harness.cache import build_features, entry_cost
    from bench.harness.compute import ComputeMeter, resolve_device
    from bench.harness.evaluation import evaluate_with_ci
    from bench.harness.flops import count_params, flops_per_ecg
    from bench.harness.progress import epoch_reporter
    from bench.harness.splits import patient_split, record_wise_split_LEAKY
    from bench.harness.train import predict_outputs, train_model
    from models import MODELS
    from representations import REPRESENTATIONS
    from tasks import TASKS

    device = resolve_device(ctx.device)
    if cell.train.get("num_threads"):
        torch.set_num_threads(int(cell.train["num_threads"]))
    # intra-op threads change float summation order, so CPU metrics are only reproducible at the same count
    metrics: dict[str, float] = {"compute/threads": torch.get_num_threads()}

    # data
    cohort = cached_cohort(cell.source, ctx.cache_dir)
    _log_frame(client, run_id, tmp, "quarantine.csv", cohort.quarantine)
    task = TASKS.get(cell.task.name)(**cell.task.params)
    sub = np.flatnonzero(np.asarray(task.select(cohort.records), dtype=bool))
    if len(sub) == 0:
        raise ValueError(f"task {cell.task.name!r}: no records of {cell.source} carry its labels")
    records = cohort.records.iloc[sub].reset_index(drop=True)
    fold_col = cell.split.get("fold_column") or None
    if fold_col and fold_col not in records.columns:
        fold_col = None
    if cell.split.get("record_wise_LEAKY"):
        warnings.warn(f"{cell.label}: record-wise split (record_wise_LEAKY): patients are on both sides of the "
                      "split, so its test metrics are inflated by leakage", stacklevel=1)
        split = record_wise_split_LEAKY(records, val=float(cell.split["val"]), test=float(cell.split["test"]),
                                        seed=int(cell.split["seed"]))
        tracking.set_tags(client, run_id, {"split": "record-wise-LEAKY"})
    else:
        split = patient_split(records, val=float(cell.split["val"]), test=float(cell.split["test"]),
                              seed=int(cell.split["seed"]), fold_column=fold_col)
        tracking.set_tags(client, run_id, {"split": "patient"})
    metrics.update({"data/n_in": cohort.n_in, "data/n_quarantined": len(cohort.quarantine),
                    "data/n_task": len(records), **{f"data/n_{k}": v for k, v in split.sizes().items()},
                    "data/n_test_patients": records["patient_id"].iloc[split.test].nunique()})

    # representation (fitted on the training rows only, cached across cells)
    rep = clone(REPRESENTATIONS.get(cell.representation.name)(**cell.representation.params))
    features = build_features(rep, cohort, sub[split.train], ctx.cache_dir)
    metrics.update(entry_cost())
    input_shape = tuple(features.shape[1:])

    # model
    torch.manual_seed(cell.seed)
    model = MODELS.get(cell.model.name)(input_shape, dict(task.heads),
                                        **{k: v for k, v in cell.model.params.items() if v is not None})
    contract = getattr(model, "input_contract", {}) or {}
    if contract:
        tracking.log_params(client, run_id, {f"model_contract.{k}": v for k, v in contract.items()})
    metrics["compute/params"] = count_params(model)
    metrics["compute/flops_per_ecg"] = flops_per_ecg(model, input_shape)
    model.to(device)

    targets = task.encode(records)
    part = {k: {t: np.asarray(v)[getattr(split, k)] for t, v in targets.items()} for k in ("train", "val", "test")}
    history: list[tuple[str, float, int]] = []

    def on_epoch(epoch: int, rec: dict[str, float]) -> None:
        history.extend((k, v, epoch) for k, v in rec.items())
        report(epoch, rec)

    meter = ComputeMeter(device)
    with epoch_reporter(cell.label, int(cell.train["epochs"]), ctx.progress) as report:
        with meter.measure():
            trained = train_model(
                model, task, features,
                train_rows=sub[split.train], train_records=records.iloc[split.train].reset_index(drop=True),
                train_targets=part["train"], val_rows=sub[split.val],
                val_records=records.iloc[split.val].reset_index(drop=True), val_targets=part["val"],
                cfg=cell.train, device=device, seed=cell.seed, on_epoch=on_epoch)
    tracking.log_metrics(client, run_id, history)
    metrics.update(meter.metrics("train"))
    metrics.update({"train/best_epoch": trained.best_epoch, "train/epochs_run": len(trained.history),
                    f"val/best_{task.primary_metric}": trained.best_val})

    # test
    test_rows = sub[split.test]
    t_inf = time.perf_counter()
    outputs = predict_outputs(model, features, test_rows, device, int(cell.train.get("eval_batch_size") or 64),
                              amp=bool(cell.train.get("amp", True)))
    metrics["compute/infer_ms_per_ecg"] = 1000 * (time.perf_counter() - t_inf) / max(len(test_rows), 1)
    scores = pd.DataFrame(task.predict(outputs))
    test_records = records.iloc[split.test].reset_index(drop=True)
    oracle_scores = None
    if cohort.oracle is not None:
        o = task.oracle_scores(cohort.oracle.iloc[test_rows].reset_index(drop=True))
        oracle_scores = pd.DataFrame(o) if o is not None else None
    test_metrics, artifacts = evaluate_with_ci(task, test_records, scores, n_boot=int(cell.eval["n_boot"]),
                                               seed=int(cell.eval["boot_seed"]), oracle_scores=oracle_scores)
    metrics.update(test_metrics)
    tracking.log_metrics(client, run_id, metrics)

    preds = pd.concat([test_records.drop(columns=[c for c in test_records.columns if c.startswith("oracle_")]),
                       scores.add_prefix("score_")], axis=1)
    if oracle_scores is not None:
        preds = pd.concat([preds, oracle_scores.add_prefix("oracle_")], axis=1)
    _log_frame(client, run_id, tmp, PREDICTIONS, preds)
    for name, frame in artifacts.items():
        _log_frame(client, run_id, tmp, f"{name}.csv", frame)
    _log_json(client, run_id, tmp, "split.json", {
        k: records["ecg_id"].astype(str).iloc[getattr(split, k)].tolist() for k in ("train", "val", "test")})
    _log_gradcam(cell, client, run_id, tmp, model, rep.kind, features, test_rows, test_records, task)
    primary = f"test/{task.primary_metric}"
    return primary, float(metrics.get(primary, float("nan"))), meter.wall_s


def _log_gradcam(cell, client, run_id, tmp, model, kind, features, test_rows, test_records, task) -> None:
    n = int(cell.eval.get("gradcam_ecgs") or 0)
    if n <= 0 or kind == "vector" or len(test_rows) == 0:
        return
    from bench.harness.gradcam import save_gradcam_figures
    from bench.harness.train import _read_rows, as_input

    head, target = task.gradcam_target()
    take = np.arange(min(n, len(test_rows)))
    x = as_input(_read_rows(features, test_rows[take]), next(model.parameters()).device)
    out_dir = tmp / "gradcam"
    out_dir.mkdir(exist_ok=True)
    paths = save_gradcam_figures(model, x, test_records["ecg_id"].astype(str).iloc[take].tolist(), head, out_dir,
                                 kind, target_index=target)
    for p in paths:
        client.log_artifact(run_id, str(p), "gradcam")


def _log_frame(client, run_id: str, tmp: Path, name: str, frame: pd.DataFrame) -> None:
    p = tmp / name
    frame.to_csv(p, index=False)
    client.log_artifact(run_id, str(p))


def _log_json(client, run_id: str, tmp: Path, name: str, obj) -> None:
    p = tmp / name
    p.write_text(json.dumps(obj))
    client.log_artifact(run_id, str(p))
