"""The paper's tables, built from the aggregated runs only (a pure function of stored runs).

- `leaderboard_<task>`: representation x model -> primary metric [95 % CI] on the test split (K folds: pooled
  out-of-fold predictions) and on each external cohort, side by side; calibration, test patients;
- `compute`: parameters, FLOPs per ECG, train / GPU time, peak memory, representation and inference cost;
- `matrix_vs_image`: per task, best image model vs best matrix model, and the 2D ResNet (image) vs its 1D twin
  at equal depth: paired difference [CI], DeLong p, compute ratios;
- `oracle_gap`: on simulated cohorts, each model's metric minus the oracle's.
A cell with no finished run reads 'missing' in every column; a metric that does not apply reads 'n/a'.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.report.aggregate import aggregate, best_by, task_of_run
from bench.report.artifacts import load_predictions
from bench.report.clinical import clinical_tables
from bench.report.paired import ORACLE, Paired, compare
from bench.report.runs import RunSet, param_value
from bench.report.writers import MISSING, NA, Table, fmt, fmt_si

CALIBRATION_PREFIXES = ("ece", "brier", "calib", "ici")
COMPUTE = ["compute/params", "compute/flops_per_ecg", "compute/train_s", "compute/gpu_s", "compute/peak_gpu_mb",
           "compute/peak_rss_mb", "compute/repr_ms_per_ecg", "compute/repr_bytes_per_ecg", "compute/infer_ms_per_ecg"]
#: (1D model, 2D model) registry names compared at equal `depth`: the control separating representation from
#: architecture (DESIGN.md, "Models"). `resnet152` is the 2D ResNet's name in runs stored before it became `resnet2d`.
TWIN_PAIRS = [("resnet1d", "resnet2d"), ("resnet1d", "resnet152")]


def test_metrics(rs: RunSet) -> list[str]:
    """Every `test/<m>` (without _lo/_hi) and `oracle/<m>` metric present in the runs."""
    names = [c[len("metrics."):] for c in rs.runs.columns if c.startswith("metrics.test/")
             or c.startswith("metrics.oracle/")]
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


def higher_is_better(task_name: str) -> bool:
    from tasks import TASKS

    return bool(getattr(TASKS.get(task_name), "higher_is_better", True))


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


def seeds_text(row) -> str:
    n, e = int(row["n_seeds"]), int(row["n_expected"])
    return f"{n}/{e}" + ("" if n == e else " (missing)" if n == 0 else " (incomplete)")


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


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
                     "Infer ms/ECG": cell(fmt(r.get("compute/infer_ms_per_ecg"), 2))})
        data.append({"task": r["task"], "representation": r["representation"], "model": r["model"],
                     "n_seeds": int(r["n_seeds"]), **{m: r.get(m, np.nan) for m in COMPUTE}})
    notes = ["Means over seeds. FLOPs: forward pass of one ECG (torch.utils.flop_counter, multiply-add = 2). "
             "Train s: wall time of training; GPU s: CUDA time (GPU runs only, else n/a). Peak MB: "
             "torch.cuda.max_memory_allocated on GPU, peak process RSS on CPU. Repr: the representation's transform "
             "time and stored size per ECG. Infer: test-set prediction time per ECG."]
    if not gpu_any:
        notes.append("No run used a GPU.")
    return Table("compute", "Compute per model", pd.DataFrame(disp), pd.DataFrame(data), notes)


def _task_instance(rs: RunSet, task: str):
    runs = rs.runs[rs.runs["task"] == task]
    if len(runs):
        return task_of_run(runs.iloc[0])
    from tasks import TASKS

    return TASKS.get(rs.cells.loc[rs.cells["task"] == task, "task_name"].iloc[0])()


def _predictions(rs: RunSet, task: str, representation: str, model: str) -> dict[int, pd.DataFrame]:
    """{seed: per-ECG test predictions}; a K-fold seed's are its folds' out-of-fold predictions, pooled."""
    r = rs.runs
    sel = r[(r["task"] == task) & (r["representation"] == representation) & (r["model"] == model)]
    return {int(s): pd.concat([load_predictions(rs.tracking_uri, rid) for rid in ids], ignore_index=True)
            for s, ids in zip(sel["seed"], sel["run_ids"])}


def _ratio(a, b) -> float:
    return float(a) / float(b) if _finite(a) and _finite(b) and float(b) > 0 else float("nan")


def matrix_vs_image(rs: RunSet, agg: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> Table:
    disp, data = [], []
    for task in rs.tasks:
        sub = agg[agg["task"] == task]
        primary = f"test/{rs.primary(task)}"
        task_name = rs.cells.loc[rs.cells["task"] == task, "task_name"].iloc[0]
        hib = higher_is_better(task_name)
        pairs = []
        best_img = best_by(sub, task, primary, hib, rep_kind="image")
        best_mat = best_by(sub, task, primary, hib, rep_kind="sequence")
        pairs.append(("best image vs best matrix", best_img, best_mat))
        for one_d, two_d in TWIN_PAIRS:
            for _, i in sub[sub["model_name"] == two_d].iterrows():
                twins = sub[(sub["model_name"] == one_d) & (sub["rep_kind"] == "sequence")]
                twins = twins[twins["depth"] == i["depth"]] if _finite(i["depth"]) else twins.iloc[0:0]
                label = f"{two_d} vs {one_d}, depth {fmt(i['depth'], 0)}" if _finite(i["depth"]) else \
                    f"{two_d} vs {one_d}"
                if twins.empty:
                    pairs.append((label, i, None))
                for _, m in twins.iterrows():
                    pairs.append((label, i, m))
        task_obj = None
        m = rs.primary(task)
        delta = "Δ image − matrix [95% CI]"
        for label, img, mat in pairs:
            row = {"Task": task, "Comparison": label, "Metric": m,
                   "Image": MISSING if img is None else f"{img['representation']} / {img['model']}",
                   "Image value": MISSING,
                   "Matrix": MISSING if mat is None else f"{mat['representation']} / {mat['model']}",
                   "Matrix value": MISSING, delta: MISSING, "DeLong p": MISSING, "Bootstrap p": MISSING,
                   "FLOPs ratio": MISSING, "Train-time ratio": MISSING, "Paired seeds": MISSING}
            rec = {"task": task, "comparison": label, "image": row["Image"], "matrix": row["Matrix"], "metric": m}
            if img is not None and mat is not None and img["n_seeds"] and mat["n_seeds"]:
                task_obj = task_obj or _task_instance(rs, task)
                p = compare(task_obj, _predictions(rs, task, img["representation"], img["model"]),
                            _predictions(rs, task, mat["representation"], mat["model"]), n_boot=n_boot, seed=seed)
                flops = _ratio(img.get("compute/flops_per_ecg"), mat.get("compute/flops_per_ecg"))
                train = _ratio(img.get("compute/train_s"), mat.get("compute/train_s"))
                row.update({"Image value": fmt(p.a), "Matrix value": fmt(p.b),
                            delta: p.note or _diff_text(p),
                            "DeLong p": _p(p.p_delong), "Bootstrap p": _p(p.p_boot),
                            "FLOPs ratio": f"{flops:.1f}×" if _finite(flops) else MISSING,
                            "Train-time ratio": f"{train:.1f}×" if _finite(train) else MISSING,
                            "Paired seeds": ",".join(map(str, p.seeds)) or MISSING})
                rec.update({"image_value": p.a, "matrix_value": p.b, "diff": p.diff, "diff_lo": p.lo,
                            "diff_hi": p.hi, "p_delong": p.p_delong, "p_boot": p.p_boot, "flops_ratio": flops,
                            "train_time_ratio": train, "seeds": ",".join(map(str, p.seeds)), "note": p.note})
            disp.append(row)
            data.append(rec)
    notes = ["Δ: image model minus matrix model on the primary metric (> 0: the image model scores higher; read "
             "it with the metric's direction in the leaderboard), mean over paired seeds, 95 % percentile "
             f"interval over {n_boot} shared patient-bootstrap resamples of the test set (seed {seed}), recomputed "
             "from both runs' predictions joined on ecg_id.",
             "DeLong p: two-sided DeLong test of correlated AUROCs, largest over seeds (n/a when the primary metric is "
             "not a single binary AUROC). Bootstrap p: two-sided, from the paired resamples.",
             "Image / Matrix value: each model's primary metric, mean over the paired seeds. Ratios: image model / matrix "
             "model (FLOPs per ECG, training wall time). 'Best' = best mean over seeds of the primary metric among "
             "image (resp. matrix = raw 12 x 5000 sequence) representations. Paired seeds: the seeds both cells "
             "finished; 'missing' where either cell has no finished run."]
    return Table("matrix_vs_image", "Matrix vs image: paired comparisons", pd.DataFrame(disp), pd.DataFrame(data),
                 notes)


def _diff_text(p: Paired) -> str:
    if not _finite(p.diff):
        return "n/a (metric undefined on this test set)"
    ci = f" [{p.lo:+.3f}, {p.hi:+.3f}]" if _finite(p.lo) and _finite(p.hi) else ""
    return f"{p.diff:+.3f}{ci}"


def _p(p: float) -> str:
    if not _finite(p):
        return NA
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def oracle_gap(rs: RunSet, agg: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> Table | None:
    disp, data = [], []
    for task in rs.tasks:
        m = rs.primary(task)
        oracle_col = f"metrics.oracle/{m}"
        if oracle_col not in rs.runs.columns or rs.runs.loc[rs.runs["task"] == task, oracle_col].isna().all():
            continue
        task_obj = _task_instance(rs, task)
        for _, r in agg[agg["task"] == task].sort_values(["representation", "model"], kind="mergesort").iterrows():
            p = Paired()
            if r["n_seeds"] > 0:
                preds = _predictions(rs, task, r["representation"], r["model"])
                p = compare(task_obj, preds, preds, n_boot=n_boot, seed=seed, which_b=ORACLE)
            gap = p.note or (_diff_text(p) if r["n_seeds"] > 0 else MISSING)
            disp.append({"Task": task, "Representation": r["representation"], "Model": r["model"],
                         "Metric": m, "Model value": fmt(p.a), "Oracle value": fmt(p.b),
                         "Gap (model − oracle) [95% CI]": gap,
                         "Seeds": seeds_text(r)})
            data.append({"task": task, "representation": r["representation"], "model": r["model"], "metric": m,
                         "model_value": p.a, "oracle_value": p.b, "gap": p.diff, "gap_lo": p.lo, "gap_hi": p.hi,
                         "n_seeds": int(r["n_seeds"])})
    if not disp:
        return None
    notes = ["Simulated cohorts only: the oracle scores each test ECG with the simulator's true risk. Gap = model "
             "metric minus the oracle's on the same test ECGs, mean over seeds, 95 % percentile interval over "
             f"{n_boot} shared patient-bootstrap resamples (seed {seed}), from each run's predictions."]
    return Table("oracle_gap", "Oracle gap on simulated cohorts", pd.DataFrame(disp), pd.DataFrame(data), notes)


def build_tables(rs: RunSet, *, n_boot: int = 200, seed: int = 0) -> tuple[pd.DataFrame, list[Table]]:
    primaries = [f"test/{rs.primary(t)}" for t in rs.tasks]  # present even when no run of a task finished
    primaries += [f"external/{n}/{rs.primary(t)}" for t in rs.tasks for n in external_names(rs)]
    metrics = sorted(set(test_metrics(rs)) | set(primaries))
    agg = aggregate(rs, metrics + COMPUTE + ["data/n_test_patients"])
    tables = leaderboards(rs, agg) + [compute_table(rs, agg), matrix_vs_image(rs, agg, n_boot=n_boot, seed=seed)]
    gap = oracle_gap(rs, agg, n_boot=n_boot, seed=seed)
    if gap is not None:
        tables.append(gap)
    tables += clinical_tables(rs)
    return agg, tables
