"""The `matrix_vs_image` table: per task, the best image model against the best matrix model (each chosen on its
validation metric, never the test metric: choosing on test would bias the winner upwards), and every 2D ResNet
against its 1D twin at equal depth; paired difference [CI], patient-clustered AUROC p, bootstrap p, both
Holm-adjusted over the table's comparisons, and compute ratios (training time from `bench timing` when it measured
the pair within one process)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.base.errors import ReportError
from bench.report.aggregate import best_by, task_of_run, validation_metric
from bench.report.artifacts import load_predictions
from bench.report.multiplicity import holm
from bench.report.paired import Paired, compare
from bench.report.runs import RunSet
from bench.report.writers import MISSING, NA, Table, fmt

#: (1D model, 2D model) registry names compared at equal `depth`: the control separating representation from
#: architecture (DESIGN.md, "Models").
TWIN_PAIRS = [("resnet1d", "resnet2d"), ("resnet1d", "resnet152")]  # resnet152: runs stored before the rename
DELTA = "Δ image − matrix [95% CI]"
#: What `bench timing` writes and this table reads (bench/commands/timing.py).
TIMING_COLUMNS = ("task", "image", "matrix", "ratio", "ratio_min", "ratio_max")


def finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def higher_is_better(task_name: str) -> bool:
    from tasks import TASKS

    return bool(getattr(TASKS.get(task_name), "higher_is_better", True))


def task_instance(rs: RunSet, task: str):
    runs = rs.runs[rs.runs["task"] == task]
    if len(runs):
        return task_of_run(runs.iloc[0])
    from tasks import TASKS

    return TASKS.get(rs.cells.loc[rs.cells["task"] == task, "task_name"].iloc[0])()


def predictions(rs: RunSet, task: str, representation: str, model: str) -> dict[int, pd.DataFrame]:
    """{seed: per-ECG test predictions}; a K-fold seed's are its folds' out-of-fold predictions, pooled."""
    r = rs.runs
    sel = r[(r["task"] == task) & (r["representation"] == representation) & (r["model"] == model)]
    return {int(s): pd.concat([load_predictions(rs.tracking_uri, rid) for rid in ids], ignore_index=True)
            for s, ids in zip(sel["seed"], sel["run_ids"])}


def diff_text(p: Paired) -> str:
    if not finite(p.diff):
        return "n/a (metric undefined on this test set)"
    ci = f" [{p.lo:+.3f}, {p.hi:+.3f}]" if finite(p.lo) and finite(p.hi) else ""
    return f"{p.diff:+.3f}{ci}"


def p_text(p: float) -> str:
    if not finite(p):
        return NA
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _ratio(a, b) -> float:
    return float(a) / float(b) if finite(a) and finite(b) and float(b) > 0 else float("nan")


def _pairs(sub: pd.DataFrame, task: str, select_on: str, hib: bool) -> list[tuple[str, object, object, bool]]:
    """(label, image row, matrix row, whether the rows were chosen on `select_on`) of every comparison of one
    task."""
    pairs = [("best image vs best matrix", best_by(sub, task, select_on, hib, rep_kind="image"),
              best_by(sub, task, select_on, hib, rep_kind="sequence"), True)]
    for one_d, two_d in TWIN_PAIRS:
        for _, i in sub[sub["model_name"] == two_d].iterrows():
            twins = sub[(sub["model_name"] == one_d) & (sub["rep_kind"] == "sequence")]
            twins = twins[twins["depth"] == i["depth"]] if finite(i["depth"]) else twins.iloc[0:0]
            label = f"{two_d} vs {one_d}, depth {fmt(i['depth'], 0)}" if finite(i["depth"]) else f"{two_d} vs {one_d}"
            if twins.empty:
                pairs.append((label, i, None, False))
            for _, m in twins.iterrows():
                pairs.append((label, i, m, False))
    return pairs


def _side(row, sub: pd.DataFrame, kind: str, select_on: str | None) -> str:
    """'representation / model' of one side of a comparison, else 'missing'; for a side chosen on `select_on`, says
    so when cells of that kind finished but none logged it (e.g. one class in every validation split)."""
    if row is not None:
        return f"{row['representation']} / {row['model']}"
    ran = sub[(sub["rep_kind"] == kind) & (sub["n_seeds"] > 0)]
    return f"{MISSING} (no {select_on} logged)" if select_on and len(ran) else MISSING


def read_timing(path: Path) -> pd.DataFrame | None:
    """`bench timing`'s timing.csv at `path` (None when absent); a file without its columns is a ReportError naming
    the file and the columns it lacks, before any table is built."""
    if not path.is_file():
        return None
    timing = pd.read_csv(path)
    lacking = sorted(set(TIMING_COLUMNS) - set(timing.columns))
    if lacking:
        raise ReportError(f"{path}: no column {', '.join(lacking)}; rewrite it with python -m bench timing --grid G "
                          f"--out {path.parent}")
    return timing


def _timed_ratio(timing: pd.DataFrame | None, task: str, img, mat) -> tuple[float, float, float]:
    """(ratio, min, max over repeats) of the image / matrix training time per ECG measured by `bench timing` in one
    process for this pair, NaNs when it was not measured."""
    nan = (float("nan"),) * 3
    if timing is None or timing.empty:
        return nan
    t = timing[(timing["task"] == task) & (timing["image"] == f"{img['representation']} / {img['model']}")
               & (timing["matrix"] == f"{mat['representation']} / {mat['model']}")]
    if t.empty:
        return nan
    r = t.iloc[0]
    return float(r["ratio"]), float(r["ratio_min"]), float(r["ratio_max"])


def matrix_vs_image(rs: RunSet, agg: pd.DataFrame, *, n_boot: int = 200, seed: int = 0,
                    timing: pd.DataFrame | None = None) -> Table:
    """The table (see the module docstring); `timing`: `bench timing`'s timing.csv, if measured."""
    disp, data = [], []
    for task in rs.tasks:
        sub = agg[agg["task"] == task]
        m = rs.primary(task)
        task_name = rs.cells.loc[rs.cells["task"] == task, "task_name"].iloc[0]
        select_on = validation_metric(m)
        task_obj = None
        for label, img, mat, chosen in _pairs(sub, task, select_on, higher_is_better(task_name)):
            chosen_on = select_on if chosen else None
            row = {"Task": task, "Comparison": label, "Metric": m,
                   "Image": _side(img, sub, "image", chosen_on), "Image value": MISSING,
                   "Matrix": _side(mat, sub, "sequence", chosen_on),
                   "Matrix value": MISSING, DELTA: MISSING, "Clustered AUROC p": MISSING,
                   "Clustered AUROC p (Holm)": MISSING, "Bootstrap p": MISSING, "Bootstrap p (Holm)": MISSING,
                   "FLOPs ratio": MISSING, "Train-time ratio": MISSING, "Paired seeds": MISSING}
            rec = {"task": task, "comparison": label, "image": row["Image"], "matrix": row["Matrix"], "metric": m,
                   "selected_on": chosen_on or "fixed pair",
                   "image_val": np.nan if img is None else img.get(select_on, np.nan),
                   "matrix_val": np.nan if mat is None else mat.get(select_on, np.nan),
                   "p_clustered": np.nan, "p_boot": np.nan}
            if img is not None and mat is not None and img["n_seeds"] and mat["n_seeds"]:
                task_obj = task_obj or task_instance(rs, task)
                p = compare(task_obj, predictions(rs, task, img["representation"], img["model"]),
                            predictions(rs, task, mat["representation"], mat["model"]), n_boot=n_boot, seed=seed)
                flops = _ratio(img.get("compute/flops_per_ecg"), mat.get("compute/flops_per_ecg"))
                timed, timed_lo, timed_hi = _timed_ratio(timing, task, img, mat)
                across = _ratio(img.get("compute/train_s"), mat.get("compute/train_s"))
                row.update({"Image value": fmt(p.a), "Matrix value": fmt(p.b), DELTA: p.note or diff_text(p),
                            "Clustered AUROC p": p_text(p.p_clustered), "Bootstrap p": p_text(p.p_boot),
                            "FLOPs ratio": f"{flops:.1f}×" if finite(flops) else MISSING,
                            "Train-time ratio": (f"{timed:.2f}× [{timed_lo:.2f}, {timed_hi:.2f}] (same process)"
                                                 if finite(timed) else
                                                 f"{across:.1f}× (across runs)" if finite(across) else MISSING),
                            "Paired seeds": ",".join(map(str, p.seeds)) or MISSING})
                rec.update({"image_value": p.a, "matrix_value": p.b, "diff": p.diff, "diff_lo": p.lo,
                            "diff_hi": p.hi, "p_clustered": p.p_clustered, "p_boot": p.p_boot, "flops_ratio": flops,
                            "train_time_ratio_same_process": timed, "train_time_ratio_same_process_min": timed_lo,
                            "train_time_ratio_same_process_max": timed_hi, "train_time_ratio_across_runs": across,
                            "seeds": ",".join(map(str, p.seeds)), "note": p.note})
            disp.append(row)
            data.append(rec)
    counts = {}
    for col, shown in (("p_clustered", "Clustered AUROC p (Holm)"), ("p_boot", "Bootstrap p (Holm)")):
        adjusted, counts[col] = holm([r[col] for r in data])
        for r, d, v in zip(data, disp, adjusted):
            r[f"{col}_holm"] = v
            if d["Bootstrap p"] != MISSING:  # a comparison that was made: NA when its p is undefined
                d[shown] = p_text(v)
    notes = ["Δ: image model minus matrix model on the primary metric (> 0: the image model scores higher; read "
             "it with the metric's direction in the leaderboard), mean over paired seeds, 95 % percentile "
             f"interval over {n_boot} shared patient-bootstrap resamples of the test set (seed {seed}), recomputed "
             "from both runs' predictions joined on ecg_id.",
             "Clustered AUROC p: two-sided paired test of the two AUROCs with Obuchowski's patient-clustered "
             "variance (Biometrics 1997; DeLong's when every patient has one ECG), largest over seeds (n/a when the "
             "primary metric is not a single binary AUROC). Bootstrap p: two-sided, from the paired patient "
             "resamples.",
             f"Holm: step-down adjustment over this table's comparisons ({counts['p_clustered']} clustered AUROC "
             f"p-values, {counts['p_boot']} bootstrap p-values adjusted, each family on its own).",
             "'Best' = the image (resp. matrix = raw 12 x 5000 sequence) model with the best mean over seeds of its "
             "validation primary metric (`val/best_<metric>`, the best epoch's); the test metric plays no part in "
             "the choice (selected_on, image_val, matrix_val in the CSV).",
             "Image / Matrix value: each model's primary metric, mean over the paired seeds. FLOPs ratio: image / "
             "matrix, per ECG. Train-time ratio: image / matrix training time per ECG, median over the repeats of "
             "`python -m bench timing` [range over repeats] when it timed the pair in one process (same process), "
             "else the ratio of the runs' training wall times (across runs: cells run at different times, on a "
             "possibly loaded machine). Paired seeds: the seeds both cells finished; 'missing' where either cell "
             "has no finished run."]
    return Table("matrix_vs_image", "Matrix vs image: paired comparisons", pd.DataFrame(disp), pd.DataFrame(data),
                 notes)
