"""The paper's tables, built from the aggregated runs only (a pure function of stored runs).

- `leaderboard_<task>`: representation x model -> primary metric [95 % CI] on the test split (K folds: pooled
  out-of-fold predictions) and on each external cohort, side by side; calibration, test patients;
- `compute`: parameters, FLOPs per ECG, train / GPU time, peak memory, representation and inference cost;
- `matrix_vs_image` (bench/report/comparison.py): per task, best image model vs best matrix model (chosen on
  validation), and the 2D ResNet (image) vs its 1D twin at equal depth: paired difference [CI], clustered AUROC and
  bootstrap p (Holm-adjusted), compute ratios;
- `oracle_gap`: on simulated cohorts, each model's metric minus the waveform oracle's and minus the full oracle's.
A cell with no finished run reads 'missing' in every column; a metric that does not apply reads 'n/a'.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.aggregate import aggregate, validation_metric
from bench.report.clinical import clinical_tables
from bench.report.comparison import diff_text as _diff_text, finite as _finite, higher_is_better, matrix_vs_image
from bench.report.comparison import predictions as _predictions, task_instance as _task_instance
from bench.report.leak import leak_tables
from bench.report.learning_curve import learning_curve_tables
from bench.report.paired import ORACLE, WAVEFORM_ORACLE, Paired, compare
from bench.report.provenance import provenance_note
from bench.report.resolution import resolution_sweep
from bench.report.runs import RunSet
from bench.report.writers import MISSING, NA, Table, fmt, fmt_si, seeds_text

CALIBRATION_PREFIXES = ("ece", "brier", "calib", "ici")
COMPUTE = ["compute/params", "compute/flops_per_ecg", "compute/train_s", "compute/gpu_s", "compute/peak_gpu_mb",
           "compute/peak_rss_mb", "compute/repr_ms_per_ecg", "compute/repr_bytes_per_ecg", "compute/infer_ms_per_ecg",
           "compute/input_values_per_ecg", "compute/ink_fraction"]


def test_metrics(rs: RunSet) -> list[str]:
    """Every `test/<m>` (without _lo/_hi), `oracle/<m>` and `oracle_waveform/<m>` metric present in the runs."""
    names = [c[len("metrics."):] for c in rs.runs.columns
             if c.startswith(("metrics.test/", "metrics.oracle/", "metrics.oracle_waveform/"))]
    return sorted(n for n in names if not n.endswith(("_lo", "_hi")))


def external_names(rs: RunSet) -> list[str]:
    """Names of the external cohorts the runs were scored on (`external/<name>/<metric>`)."""
    names = set()
    for c in rs.runs.columns:
        if c.startswith("metrics.external/") and "/oracle/" not in c:
            names.add(c[len("metrics.external/"):].rsplit("/", 1)[0])
    return sorted(names)


def calibration_metrics(rs: RunSet, task: str) -> list[str]:
    sel = rs.runs[rs.runs["task"] == task]
    out = []
    for m in test_metrics(rs):
        short = m.split("/", 1)[1]
        if m.startswith("test/") and short.startswith(CALIBRATION_PREFIXES):
            col = f"metrics.{m}"
            if col in sel.columns and sel[col].notna().any():
                out.append(m)
    return out


def value_ci(row, metric: str, digits: int = 3) -> str:
    """'0.812 [0.781, 0.843] ±0.006' (mean of seeds, mean bootstrap bounds, seed t-CI) or 'missing'."""
    v = row.get(metric, np.nan)
    if not _finite(v):
        return MISSING
    s = fmt(v, digits)
    lo, hi = row.get(f"{metric}_lo", np.nan), row.get(f"{metric}_hi", np.nan)
    if _finite(lo) and _finite(hi):
        s += f" [{fmt(lo, digits)}, {fmt(hi, digits)}]"
    sd = row.get(f"{metric}_seed_ci", np.nan)
    if _finite(sd):
        s += f" ±{fmt(sd, digits)}"
    return s


def leaderboards(rs: RunSet, agg: pd.DataFrame) -> list[Table]:
    tables = []
    for task in rs.tasks:
        sub = agg[agg["task"] == task].copy()
        task_name = rs.cells.loc[rs.cells["task"] == task, "task_name"].iloc[0]
        primary = f"test/{rs.primary(task)}"
        hib = higher_is_better(task_name)
        key = sub[primary].to_numpy(dtype=float) * (-1 if hib else 1)
        sub = sub.assign(_k=np.where(np.isfinite(key), key, np.inf)).sort_values(
            ["_k", "representation", "model"], kind="mergesort")
        calib = calibration_metrics(rs, task)
        external = {name: f"external/{name}/{rs.primary(task)}" for name in external_names(rs)}
        disp, data = [], []
        for _, r in sub.iterrows():
            ok = r["n_seeds"] > 0
            d = {"Representation": r["representation"], "Model": r["model"],
                 f"{rs.primary(task)} [95% CI]": value_ci(r, primary)}
            d.update({f"External {name}: {rs.primary(task)} [95% CI]": value_ci(r, m) for name, m in external.items()})
            d["Seeds"] = seeds_text(r)
            d.update({m.split("/", 1)[1]: fmt(r[m]) if ok else MISSING for m in calib})
            d["Test patients"] = fmt(r.get("data/n_test_patients"), 0) if ok else MISSING
            disp.append(d)
            data.append({"task": task, "representation": r["representation"], "model": r["model"],
                         "rep_kind": r["rep_kind"], "n_seeds": int(r["n_seeds"]), "n_expected": int(r["n_expected"]),
                         **{k: r.get(k, np.nan) for k in (primary, f"{primary}_lo", f"{primary}_hi",
                                                          f"{primary}_seed_ci", *calib, "data/n_test_patients")},
                         **{f"{m}{b}": r.get(f"{m}{b}", np.nan) for m in external.values()
                            for b in ("", "_lo", "_hi")}})
        arrow = "higher is better" if hib else "lower is better"
        notes = [f"Task {task}; primary metric {rs.primary(task)} ({arrow}): mean over seeds [mean of the runs' "
                 "95 % patient-bootstrap bounds] ± 95 % t-interval half-width over seeds.",
                 "Seeds: finished/expected runs; 'missing' = no finished run for that cell. With K test folds, a seed "
                 "is the K fold runs, scored on their pooled out-of-fold predictions (patient bootstrap over every "
                 "ECG); it is missing until every fold finished."]
        if external:
            notes.append("External columns: the same trained models scored on each external cohort through the "
                         "representation as fitted on the training split (nothing refitted); mean over seeds (and "
                         "over the fold models) [mean of the 95 % patient-bootstrap bounds on that cohort].")
        if calib:
            notes.append("Calibration columns: mean over seeds (" + ", ".join(m.split("/", 1)[1] for m in calib) + ").")
        tables.append(Table(f"leaderboard_{task}", f"Leaderboard: {task}", pd.DataFrame(disp), pd.DataFrame(data),
                            notes))
    return tables


def compute_table(rs: RunSet, agg: pd.DataFrame) -> Table:
    gpu_any = "compute/gpu_s" in agg.columns and agg["compute/gpu_s"].notna().any()
    disp, data = [], []
    for _, r in agg.sort_values(["task", "representation", "model"], kind="mergesort").iterrows():
        ok = r["n_seeds"] > 0
        on_gpu = _finite(r.get("compute/gpu_s"))
        mem = r.get("compute/peak_gpu_mb") if on_gpu else r.get("compute/peak_rss_mb")

        def cell(text):
            return text if ok else MISSING

        disp.append({"Task": r["task"], "Representation / model": f"{r['representation']} / {r['model']}",
                     "Params": cell(fmt_si(r.get("compute/params"))),
                     "FLOPs/ECG": cell(fmt_si(r.get("compute/flops_per_ecg"))),
                     "Train s": cell(fmt(r.get("compute/train_s"), 1)),
                     "GPU s": cell(fmt(r.get("compute/gpu_s"), 1) if on_gpu else NA),
                     "Peak MB": cell(f"{fmt(mem, 0)} ({'GPU' if on_gpu else 'RSS'})"),
                     "Repr ms/ECG": cell(fmt(r.get("compute/repr_ms_per_ecg"), 2)),
                     "Repr bytes/ECG": cell(fmt_si(r.get("compute/repr_bytes_per_ecg"))),
                     "Infer ms/ECG": cell(fmt(r.get("compute/infer_ms_per_ecg"), 2)),
                     "Input values/ECG": cell(fmt_si(r.get("compute/input_values_per_ecg"))),
                     "Ink %": cell(fmt(100 * r.get("compute/ink_fraction", np.nan), 1)
                                   if r["rep_kind"] == "image" else NA)})
        data.append({"task": r["task"], "representation": r["representation"], "model": r["model"],
                     "n_seeds": int(r["n_seeds"]), **{m: r.get(m, np.nan) for m in COMPUTE}})
    notes = ["Means over seeds. FLOPs: forward pass of one ECG (torch.utils.flop_counter, multiply-add = 2). "
             "Train s: wall time of training; GPU s: CUDA time (GPU runs only, else n/a). Peak MB: "
             "torch.cuda.max_memory_allocated on GPU, peak process RSS on CPU. Repr: the representation's transform "
             "time and stored size per ECG. Infer: test-set prediction time per ECG. Input values: numbers in one "
             "ECG's model input (numel). Ink: share of a printed page's pixels that differ from the blank page (paper, "
             "grid, calibration pulses, labels), i.e. trace pixels (images only)."]
    if not gpu_any:
        notes.append("No run used a GPU.")
    return Table("compute", "Compute per model", pd.DataFrame(disp), pd.DataFrame(data), notes)


#: (name in the table, predictions prefix, metric prefix, CSV value column, CSV gap column) of the two oracles.
ORACLES = (("waveform oracle", WAVEFORM_ORACLE, "oracle_waveform", "oracle_waveform_value", "oracle_gap"),
           ("full oracle", ORACLE, "oracle", "oracle_full_value", "oracle_gap_full"))


def oracle_gap(rs: RunSet, agg: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> Table | None:
    """Per model: its primary metric minus the waveform oracle's (CSV `oracle_gap`) and minus the full oracle's
    (`oracle_gap_full`), paired on the same test ECGs and resamples."""
    disp, data = [], []
    for task in rs.tasks:
        m = rs.primary(task)
        sel = rs.runs["task"] == task
        present = {o[1] for o in ORACLES if f"metrics.{o[2]}/{m}" in rs.runs.columns
                   and rs.runs.loc[sel, f"metrics.{o[2]}/{m}"].notna().any()}
        if not present:
            continue
        task_obj = _task_instance(rs, task)
        for _, r in agg[agg["task"] == task].sort_values(["representation", "model"], kind="mergesort").iterrows():
            row = {"Task": task, "Representation": r["representation"], "Model": r["model"], "Metric": m,
                   "Model value": MISSING}
            rec = {"task": task, "representation": r["representation"], "model": r["model"], "metric": m,
                   "model_value": np.nan}
            preds = _predictions(rs, task, r["representation"], r["model"]) if r["n_seeds"] > 0 else {}
            for name, prefix, _, value_col, gap_col in ORACLES:
                p = Paired()
                if preds and prefix in present:
                    p = compare(task_obj, preds, preds, n_boot=n_boot, seed=seed, which_b=prefix)
                    row["Model value"] = fmt(p.a)
                    rec["model_value"] = p.a
                ok = r["n_seeds"] > 0 and prefix in present
                row[f"{name.capitalize()} value"] = fmt(p.b) if ok else MISSING
                row[f"Gap to {name} [95% CI]"] = (p.note or _diff_text(p)) if ok else MISSING
                rec.update({value_col: p.b, gap_col: p.diff, f"{gap_col}_lo": p.lo, f"{gap_col}_hi": p.hi})
            row["Seeds"] = seeds_text(r)
            rec["n_seeds"] = int(r["n_seeds"])
            disp.append(row)
            data.append(rec)
    if not disp:
        return None
    notes = ["Simulated cohorts only. Gap = model metric minus the oracle's on the same test ECGs, mean over seeds, "
             f"95 % percentile interval over {n_boot} shared patient-bootstrap resamples (seed {seed}), from each "
             "run's predictions. CSV: `oracle_gap` is the gap to the waveform oracle, `oracle_gap_full` to the full.",
             "Waveform oracle: the simulator's true risk given only what the ECG shows (its planted markers and "
             "rhythm; age, sex and clinical covariates integrated out over their posterior given the markers): the "
             "best an ECG model can reach. It cannot say what a model that also reads age and sex could reach.",
             "Full oracle: the true risk given everything that caused the outcome, age, sex (and covariates) "
             "included. No model of the waveform alone can reach it; its gap mixes what the model missed with "
             "what the ECG does not show."]
    return Table("oracle_gap", "Oracle gap on simulated cohorts: to the waveform oracle and to the full oracle",
                 pd.DataFrame(disp), pd.DataFrame(data), notes)


def build_tables(rs: RunSet, *, n_boot: int = 200, seed: int = 0,
                 timing: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[Table]]:
    """(aggregated runs, every table); `timing`: `bench timing`'s within-process training-time ratios, if any."""
    primaries = [f"test/{rs.primary(t)}" for t in rs.tasks]  # present even when no run of a task finished
    primaries += [f"external/{n}/{rs.primary(t)}" for t in rs.tasks for n in external_names(rs)]
    primaries += [validation_metric(rs.primary(t)) for t in rs.tasks]  # what comparisons choose models on
    metrics = sorted(set(test_metrics(rs)) | set(primaries))
    agg = aggregate(rs, metrics + COMPUTE + ["data/n_test_patients"])
    tables = leaderboards(rs, agg) + [compute_table(rs, agg),
                                      matrix_vs_image(rs, agg, n_boot=n_boot, seed=seed, timing=timing)]
    gap = oracle_gap(rs, agg, n_boot=n_boot, seed=seed)
    if gap is not None:
        tables.append(gap)
    tables += clinical_tables(rs) + [t for t in [resolution_sweep(rs, agg, n_boot=n_boot, seed=seed)] if t is not None]
    tables += learning_curve_tables(rs) + leak_tables(rs)
    for t in tables:  # which code made these numbers, under every table
        t.notes.append(provenance_note(rs.runs if t.runs is None else t.runs))
    return agg, tables
