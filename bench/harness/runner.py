"""Run one grid cell as named stages, logged to one MLflow run:
`load_data` (cohort, task rows, patient-wise split or test fold -> train/val/test `Part`s) -> `build_inputs`
(representation fitted on the training part, cached) -> `build_model` -> `fit` (best epoch on validation) ->
`score_test` (test metrics with bootstrap CIs, predictions) -> `score_clinical` (clinical baseline, combination,
subgroups; bench/harness/clinical) -> `score_external` (each external cohort, through the representation as fitted on
training; bench/harness/external.py) -> `log_data_and_model` (datasets and the pyfunc model; model_store.py).
Each stage logs through a `RunLog` (bench/harness/run_log.py).

`run_cell(cell, ctx)` is a pure function of a frozen cell config and a picklable context, so the local loop and
remote executors (Ray) only differ in where it is called. Any exception inside the cell marks its run FAILED with
the traceback as an artifact; the caller goes on with the next cell.
"""
from __future__ import annotations

import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench.harness.cell_data import CellData, cached_cohort, cell_data
from bench.harness.grid import Cell
from bench.harness.run_log import RunLog

if TYPE_CHECKING:  # only for annotations: the runner module stays light to import (Ray ships it to workers)
    from bench.harness.splits import Part

PREDICTIONS = "predictions.csv"
#: Prefix of the fQRS-blind oracle's scores in `predictions.csv` (simulated cohorts with `oracle_*_no_fqrs`).
FQRS_BLIND = "fqrs_blind_oracle_"  # the same prefix as bench.report.paired.FQRS_BLIND


def fqrs_blind_oracle(oracle: pd.DataFrame) -> pd.DataFrame:
    """The oracle columns of a reader blind to the fQRS notch, under the full oracle's names (`oracle_p_mi_no_fqrs`
    -> `oracle_p_mi`), so `Task.oracle_scores` scores them as it scores the full oracle."""
    blind = oracle.reset_index(drop=True).filter(regex="_no_fqrs$")
    return blind.rename(columns=lambda c: c[:-len("_no_fqrs")])


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


def run_tags(cell: Cell, key: str) -> dict[str, str]:
    from bench.harness.provenance import code_tags

    tags = {"cell_key": key, "task": cell.task.id, "representation": cell.representation.id,
            "model": cell.model.id, "seed": str(cell.seed), "grid": cell.grid, "source": cell.source,
            "mlflow.runName": cell.label, **code_tags()}  # the commit that trained it (tables state it)
    if cell.fold:
        tags["fold"] = str(cell.fold)
    return tags


def run_cell(cell: Cell, ctx: RunContext) -> CellResult:
    from bench.harness import tracking

    t0 = time.perf_counter()
    key = cell.key(ctx.data_fingerprint)
    client = tracking.client_for(ctx.tracking_uri)
    run = client.create_run(ctx.experiment_id, run_name=cell.label, tags=run_tags(cell, key))
    run_id = run.info.run_id
    result = CellResult(cell.label, key, "FAILED", run_id)
    try:
        tracking.log_config(client, run_id, cell)
        with tempfile.TemporaryDirectory(prefix="bench-cell-") as tmp:
            log = RunLog(client, run_id, Path(tmp))
            try:
                primary, value, model_s = _execute(cell, ctx, log)
            finally:
                log.flush_artifacts()
        result.status, result.primary_metric, result.primary_value = "FINISHED", primary, value
        # the harness's own work: everything the cell did besides running the model (training, and inference on
        # the validation, test and external ECGs, both logged: compute/train_s, compute/infer_s)
        tracking.log_metrics(client, run_id, {"compute/overhead_s": time.perf_counter() - t0 - model_s})
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


@dataclass(frozen=True)
class Inputs:
    """The representation (fitted on the training part when it fits data) and its cached rows for the cohort."""

    rep: object
    features: np.ndarray  # row i = model input of cohort row i


def _execute(cell: Cell, ctx: RunContext, log: RunLog) -> tuple[str, float, float]:
    """The stages of one cell; returns (primary metric name, its value, seconds the model ran: training plus
    inference)."""
    import torch

    from bench.harness.compute import resolve_device

    device = resolve_device(ctx.device)
    if cell.train.get("num_threads"):
        torch.set_num_threads(int(cell.train["num_threads"]))
    # intra-op threads change float summation order, so CPU metrics are only reproducible at the same count
    log.metrics["compute/threads"] = torch.get_num_threads()
    data = load_data(cell, ctx, log)
    inputs = build_inputs(cell, ctx, data, log)
    model = build_model(cell, data, inputs, log).to(device)
    train_s = fit(cell, ctx, data, inputs, model, device, log)
    score_test(cell, data, inputs, model, device, log)
    score_external(cell, ctx, data, inputs, model, device, log)
    log_data_and_model(cell, ctx, data, inputs, model, log)
    log.metrics.setdefault("compute/infer_s", 0.0)
    log.flush()
    primary = f"test/{data.task.primary_metric}"
    return primary, float(log.metrics.get(primary, float("nan"))), train_s + log.metrics["compute/infer_s"]


def load_data(cell: Cell, ctx: RunContext, log: RunLog) -> CellData:
    """Cohort, the task's rows (none: the cell fails naming the source), and the patient-wise split of them into
    train / val / test parts (the published or a seeded split, the cell's test fold, or the leaky record-wise
    split when asked for, tagged `split_kind`); a learning-curve cell trains on its nested subset of the training
    patients (tag `train_size`). `data/n_test_patients_in_train` counts the leak (0 under a patient split)."""
    cohort = cached_cohort(cell.source, ctx.cache_dir)
    log.frame("quarantine.csv", cohort.quarantine)
    if cell.split.get("record_wise_LEAKY"):
        warnings.warn(f"{cell.label}: record-wise split (record_wise_LEAKY): patients are on both sides of the "
                      "split, so its test metrics are inflated by leakage", stacklevel=1)
    data, split, split_tag = cell_data(cell, cohort)
    parts = data.parts
    log.tags({"split_kind": "record_LEAKY" if cell.leaky else "patient", "split": split_tag,
              **({"train_size": str(cell.train_size)} if cell.train_size else {})})
    train_patients, test_patients = (set(parts[k].records["patient_id"].astype(str)) for k in ("train", "test"))
    log.metrics.update({"data/n_in": cohort.n_in, "data/n_quarantined": len(cohort.quarantine),
                        "data/n_task": data.n_task,
                        **{f"data/n_{k}": v for k, v in split.sizes().items()},
                        "data/n_train_patients": parts["train"].n_patients,
                        "data/n_test_patients": parts["test"].n_patients,
                        "data/n_test_patients_in_train": len(train_patients & test_patients)})
    log.json("split.json", {k: p.records["ecg_id"].astype(str).tolist() for k, p in parts.items()})
    return data


def build_inputs(cell: Cell, ctx: RunContext, data: CellData, log: RunLog) -> Inputs:
    """A fresh clone of the representation, fitted on the training part only; every cohort row transformed once
    and cached across cells; its measured cost per ECG."""
    from sklearn.base import clone

    from bench.harness.cache import build_features, entry_cost
    from representations import REPRESENTATIONS

    rep = clone(REPRESENTATIONS.get(cell.representation.name)(**cell.representation.params))
    train_rows = data.parts["train"].rows
    features = build_features(rep, data.cohort, train_rows, ctx.cache_dir)
    log.metrics.update(entry_cost())  # measured once per cache entry, stored with it
    return Inputs(rep, features)


def build_model(cell: Cell, data: CellData, inputs: Inputs, log: RunLog):
    """The model for the inputs' shape and the task's heads (seeded), its input contract, size and FLOPs."""
    import torch

    from bench.harness.flops import count_params, flops_per_ecg
    from models import MODELS

    input_shape = tuple(inputs.features.shape[1:])
    torch.manual_seed(cell.seed)
    model = MODELS.get(cell.model.name)(input_shape, dict(data.task.heads),
                                        **{k: v for k, v in cell.model.params.items() if v is not None})
    contract = getattr(model, "input_contract", {}) or {}
    if contract:
        log.params({f"model_contract.{k}": v for k, v in contract.items()})
    log.metrics["compute/params"] = count_params(model)
    log.metrics["compute/flops_per_ecg"] = flops_per_ecg(model, input_shape)
    return model


def fit(cell: Cell, ctx: RunContext, data: CellData, inputs: Inputs, model, device, log: RunLog) -> float:
    """Train on the training part, keep the best validation epoch; per-epoch curves and measured compute. Returns
    the training seconds (the cell's overhead is its wall time less these)."""
    from bench.harness.compute import ComputeMeter
    from bench.harness.progress import epoch_reporter
    from bench.harness.train import train_model

    history: list[tuple[str, float, int]] = []
    with epoch_reporter(cell.label, int(cell.train["epochs"]), ctx.progress) as report:
        def on_epoch(epoch: int, rec: dict[str, float]) -> None:
            history.extend((k, v, epoch) for k, v in rec.items())
            report(epoch, rec)

        meter = ComputeMeter(device)
        with meter.measure():
            trained = train_model(model, data.task, inputs.features, data.parts["train"], data.parts["val"],
                                  cfg=cell.train, device=device, seed=cell.seed, on_epoch=on_epoch)
    log.series(history)
    log.metrics.update(meter.metrics("train"))
    log.metrics.update({"train/best_epoch": trained.best_epoch, "train/epochs_run": len(trained.history),
                        f"val/best_{data.task.primary_metric}": trained.best_val})
    return meter.wall_s


def score_test(cell: Cell, data: CellData, inputs: Inputs, model, device, log: RunLog) -> None:
    """Score the test part: metrics with patient-bootstrap CIs (and the oracle's on simulated cohorts), the
    per-ECG predictions, the evaluation artifacts and the ECGs the report explains with Grad-CAM."""
    from bench.harness.train import predict_outputs

    part = data.parts["test"]
    t_inf = time.perf_counter()
    with log.timed("compute/infer_s"):
        outputs = predict_outputs(model, inputs.features, part.rows, device, _eval_batch(cell),
                                  amp=bool(cell.train.get("amp", True)))
    log.metrics["compute/infer_ms_per_ecg"] = 1000 * (time.perf_counter() - t_inf) / max(len(part), 1)
    oracle = None if data.cohort.oracle is None else data.cohort.oracle.iloc[part.rows]
    scores, evaluation = score_part(cell, data.task, part.records, outputs, oracle, log)
    score_clinical(cell, data, inputs, model, device, scores, evaluation, oracle, log)
    _store_gradcam_ecgs(cell, log, inputs.rep.kind, data.cohort, part)


def _eval_batch(cell: Cell) -> int:
    return int(cell.train.get("eval_batch_size") or 64)


def score_clinical(cell: Cell, data: CellData, inputs: Inputs, model, device, test_scores: pd.DataFrame,
                   evaluation: tuple[dict[str, float], pd.DataFrame], oracle: pd.DataFrame | None,
                   log: RunLog) -> None:
    """Where the cohort carries clinical covariates (and `[eval] clinical` is on): the clinical-only model (fitted on
    the training part), the ECG + clinical combination (fitted on the validation part) and the ECG score as an
    independent predictor, scored on the test part on the same bootstrap resamples as the ECG model; and the
    `[eval] subgroups` metrics. See bench/harness/clinical."""
    from bench.harness.clinical import AGE_BANDS, available_covariates, clinical_evaluation
    from bench.harness.train import predict_outputs

    parts = data.parts
    clinical = bool(cell.eval.get("clinical", True)) and bool(available_covariates(parts["train"].records))
    subgroups = list(cell.eval.get("subgroups") or [])
    if not clinical and not subgroups:
        return
    val_scores = pd.DataFrame()
    if clinical:
        with log.timed("compute/infer_s"):
            val_out = predict_outputs(model, inputs.features, parts["val"].rows, device, _eval_batch(cell),
                                      amp=bool(cell.train.get("amp", True)))
        val_scores = pd.DataFrame(data.task.predict(val_out))
    metrics, artifacts = clinical_evaluation(
        data.task, parts["train"].records, parts["val"].records, val_scores, parts["test"].records, test_scores,
        n_boot=int(cell.eval["n_boot"]), seed=int(cell.eval["boot_seed"]), clinical=clinical, subgroups=subgroups,
        age_bands=cell.eval.get("age_bands") or AGE_BANDS,
        test_oracle=None if oracle is None else oracle.reset_index(drop=True), ecg_evaluation=evaluation)
    log.metrics.update(metrics)
    for name, frame in artifacts.items():
        log.frame(f"{name}.csv", frame)


def score_part(cell: Cell, task, records: pd.DataFrame, outputs: dict[str, np.ndarray],
               oracle: pd.DataFrame | None, log: RunLog, prefix: str = "test", folder: str | None = None,
               ) -> tuple[pd.DataFrame, tuple[dict[str, float], pd.DataFrame]]:
    """Evaluate one scored set (a test part, or an external cohort with `prefix="external/<name>"` and its
    artifacts in `folder`) through the task's metric calls; log its metrics and predictions. Returns the score
    columns and (metrics, per-resample metrics) for analyses paired with it."""
    from bench.harness.evaluation import evaluate_with_ci, oracle_part

    records = records.reset_index(drop=True)
    scores = pd.DataFrame(task.predict(outputs))
    oracle_scores, waveform_scores = None, None
    if oracle is not None:
        o = task.oracle_scores(oracle.reset_index(drop=True))
        oracle_scores = pd.DataFrame(o) if o is not None else None
        w = task.oracle_scores(oracle_part(oracle.reset_index(drop=True), "waveform"))
        waveform_scores = pd.DataFrame(w) if w is not None else None  # what the waveform alone can show
    oracle_prefix = "oracle" if prefix == "test" else f"{prefix}/oracle"
    metrics, artifacts = evaluate_with_ci(
        task, records, scores, n_boot=int(cell.eval["n_boot"]), seed=int(cell.eval["boot_seed"]),
        oracle_scores=oracle_scores, prefix=prefix, oracle_prefix=oracle_prefix,
        other_oracles=None if waveform_scores is None else {f"{oracle_prefix}_waveform": waveform_scores})
    log.metrics.update(metrics)
    # the fQRS-blind oracle (a reader blind to the fine-detail notch) is the resolution sweep's floor
    blind = None if oracle is None else task.oracle_scores(fqrs_blind_oracle(oracle))
    parts = [(oracle_scores, "oracle_"), (waveform_scores, "oracle_waveform_"),
             (None if blind is None else pd.DataFrame(blind), FQRS_BLIND)]
    preds = pd.concat([records.drop(columns=[c for c in records.columns if c.startswith("oracle_")]),
                       scores.add_prefix("score_")] + [f.add_prefix(p) for f, p in parts if f is not None], axis=1)
    log.frame(PREDICTIONS, preds, folder)
    for name, frame in artifacts.items():
        log.frame(f"{name}.csv", frame, folder)
    return scores, (metrics, artifacts["bootstrap_metrics"])


def score_external(cell: Cell, ctx: RunContext, data: CellData, inputs: Inputs, model, device, log: RunLog) -> None:
    """Every external cohort of the cell, scored by the trained model through the representation as fitted on the
    training part (nothing refitted): `external/<name>/<metric>` and `external/<name>/predictions.csv`."""
    if not cell.external:
        return
    from bench.harness.external import external_outputs

    for name, source in cell.external.items():
        ext = cached_cohort(source, ctx.cache_dir)
        records, outputs, oracle = external_outputs(cell, data, inputs, ext, model, device,
                                                    timed=lambda: log.timed("compute/infer_s"))
        log.metrics.update({f"data/external/{name}/n": len(records),
                            f"data/external/{name}/n_patients": int(records["patient_id"].nunique())})
        score_part(cell, data.task, records, outputs, oracle, log, prefix=f"external/{name}",
                   folder=f"external/{name}")


def log_data_and_model(cell: Cell, ctx: RunContext, data: CellData, inputs: Inputs, model, log: RunLog) -> None:
    """The parts as MLflow dataset inputs, and the trained model with its fitted representation and the task's
    output decoding as one pyfunc model (unless `[eval] log_model = false`): `bench predict` scores new files."""
    from bench.harness import model_store

    model_store.log_datasets(log.client, log.run_id, data.cohort, data.parts)
    model_store.log_model(log.client, log.run_id, ctx.experiment_id, cell, data.task, inputs.rep, model, data.cohort,
                          data.parts["train"].rows)


def _store_gradcam_ecgs(cell: Cell, log: RunLog, kind: str, cohort, part: Part) -> None:
    """The first `[eval] gradcam_ecgs` test ECGs, stored for the report to explain with the logged model
    (bench/harness/gradcam.py): making the maps here would cost seconds of the cell's overhead."""
    n = int(cell.eval.get("gradcam_ecgs") or 0)
    if n <= 0 or kind == "vector" or len(part) == 0:
        return
    from bench.harness.gradcam import ARTIFACT_DIR, ECGS, store_gradcam_ecgs

    take = np.arange(min(n, len(part)))
    store_gradcam_ecgs(log.path(ECGS, ARTIFACT_DIR), part.records["ecg_id"].iloc[take], cohort.signals[part.rows[take]])
