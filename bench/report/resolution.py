"""`resolution_sweep`: per task, each image model at each rendered image width (the image representations grouped by
their `width` param): the primary metric [95 % CI], FLOPs per ECG, training time, the best matrix model's metric,
and, on simulated cohorts, the full oracle and the fQRS-blind oracle scored on the same test ECGs.

The two oracles bracket what resolution can buy: the full oracle reads the planted fQRS notch, the blind one
(`oracle_p_*_no_fqrs`, stored in each run's predictions under `fqrs_blind_oracle_*`) does not. A model above the
blind oracle's value must be reading the notch; the margin full - blind (with its paired patient-bootstrap interval)
is the most any width can gain from it. Both come from the run's own predictions, so they are on its test ECGs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.aggregate import best_by, validation_metric
from bench.report.comparison import higher_is_better, predictions as _predictions, task_instance as _task_instance
from bench.report.paired import FQRS_BLIND, ORACLE, primary_evaluator, resample_weights, split_predictions
from bench.report.runs import RunSet
from bench.report.writers import MISSING, NA, Table, fmt, fmt_si, seeds_text


def oracle_values(task_obj, preds: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> dict[str, float]:
    """Full and fQRS-blind oracle primary metric on one run's test ECGs, and their paired difference with its 95 %
    patient-bootstrap interval (NaN where the predictions carry no such oracle)."""
    out = dict.fromkeys(("full", "blind", "margin", "margin_lo", "margin_hi"), float("nan"))
    evaluators = {}
    for key, prefix in (("full", ORACLE), ("blind", FQRS_BLIND)):
        records, scores = split_predictions(preds, prefix)
        if scores.empty:
            continue
        evaluators[key] = primary_evaluator(task_obj, records, scores)[0]
        out[key] = float(evaluators[key](None))
    if len(evaluators) == 2:
        w = resample_weights(preds["patient_id"].to_numpy(), n_boot, seed)
        boot = np.array([evaluators["full"](b) - evaluators["blind"](b) for b in w])
        boot = boot[np.isfinite(boot)]
        out["margin"] = out["full"] - out["blind"]
        if len(boot):
            out["margin_lo"], out["margin_hi"] = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
    return out


def resolution_sweep(rs: RunSet, agg: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> Table | None:
    """One row per (task, image model, width); None when no image representation has a width."""

    img = agg[(agg["rep_kind"] == "image") & np.isfinite(agg["width"].astype(float))]
    if img.empty:
        return None
    disp, data = [], []
    for task in rs.tasks:
        m = rs.primary(task)
        task_name = rs.cells.loc[rs.cells["task"] == task, "task_name"].iloc[0]
        ref = best_by(agg, task, validation_metric(m), higher_is_better(task_name), rep_kind="sequence")
        ref_text = MISSING if ref is None else f"{fmt(ref[f'test/{m}'])} ({ref['representation']} / {ref['model']})"
        task_obj = None
        for _, r in img[img["task"] == task].sort_values(["model", "width"], kind="mergesort").iterrows():
            ok = r["n_seeds"] > 0
            o = dict.fromkeys(("full", "blind", "margin", "margin_lo", "margin_hi"), float("nan"))
            if ok:
                task_obj = task_obj or _task_instance(rs, task)
                preds = _predictions(rs, task, r["representation"], r["model"])
                o = oracle_values(task_obj, preds[min(preds)], n_boot=n_boot, seed=seed)
            value, lo, hi = (r.get(f"test/{m}{s}", np.nan) for s in ("", "_lo", "_hi"))
            ci = f" [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
            margin = (f"{o['margin']:+.3f} [{o['margin_lo']:+.3f}, {o['margin_hi']:+.3f}]"
                      if np.isfinite(o["margin_lo"]) else NA)
            disp.append({"Task": task, "Model": r["model"], "Width px": int(r["width"]), "Representation":
                         r["representation"], "Metric": m, "Value [95% CI]": (fmt(value) + ci) if ok else MISSING,
                         "FLOPs/ECG": fmt_si(r.get("compute/flops_per_ecg")) if ok else MISSING,
                         "Train s": fmt(r.get("compute/train_s"), 1) if ok else MISSING,
                         "Best matrix": ref_text,
                         "Oracle": fmt(o["full"]) if np.isfinite(o["full"]) else (NA if ok else MISSING),
                         "fQRS-blind oracle": fmt(o["blind"]) if np.isfinite(o["blind"]) else (NA if ok else MISSING),
                         "Oracle − blind [95% CI]": margin if ok else MISSING, "Seeds": seeds_text(r)})
            data.append({"task": task, "model": r["model"], "width": int(r["width"]),
                         "representation": r["representation"], "metric": m, "value": value, "value_lo": lo,
                         "value_hi": hi, "flops_per_ecg": r.get("compute/flops_per_ecg", np.nan),
                         "train_s": r.get("compute/train_s", np.nan),
                         "best_matrix": None if ref is None else f"{ref['representation']} / {ref['model']}",
                         "best_matrix_value": np.nan if ref is None else ref[f"test/{m}"],
                         "oracle": o["full"], "oracle_fqrs_blind": o["blind"], "oracle_margin": o["margin"],
                         "oracle_margin_lo": o["margin_lo"], "oracle_margin_hi": o["margin_hi"],
                         "n_seeds": int(r["n_seeds"])})
    notes = ["Image models by rendered width. Value: primary test metric, mean over seeds, with the mean of the runs' "
             "95 % patient-bootstrap bounds. FLOPs: forward pass of one ECG; Train s: training wall time. Best matrix: "
             "the best raw-sequence model's mean primary metric (the dashed line of the resolution_sweep figure).",
             "Oracle / fQRS-blind oracle: the simulator's true risk with and without the fQRS notch, scored on the "
             "same test ECGs (first seed's predictions; n/a on cohorts without an oracle). Oracle − blind: what "
             f"reading the notch is worth, 95 % percentile interval over {n_boot} patient-bootstrap resamples "
             f"(seed {seed})."]
    return Table("resolution_sweep", "Image-resolution sweep", pd.DataFrame(disp), pd.DataFrame(data), notes)
