"""The paper's figures (PNG and PDF, byte-deterministic: no dates or software versions in the metadata).

- `accuracy_vs_compute`: primary metric against FLOPs per ECG per task, with the Pareto front;
- `resolution_sweep`: metric, FLOPs and training time against the rendered image width, with the best matrix model
  and the full and fQRS-blind oracles (simulated cohorts) as references;
- `gradcam_montage`: Grad-CAM maps, one tile per representation x model, made from the runs' stored models and ECGs
  (bench/harness/gradcam.py) the first time, then read from the runs; a pair without maps is named with the reason;
- the curve figures (calibration, ROC, Kaplan-Meier vs predicted) are in `bench.report.curves`.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report import curves
from bench.report.clinical import forest_plots
from bench.report.learning_curve import learning_curve_figure
from bench.report.plotting import colours, new_figure, save, styled
from bench.report.runs import RunSet

KIND_MARKER = {"sequence": "o", "image": "s", "vector": "^"}
KIND_LABEL = {"sequence": "matrix (12 x T)", "image": "image", "vector": "features"}
def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _missing_note(ax, rows: pd.DataFrame) -> None:
    """Name the cells with no finished run inside the panel (red); an empty panel says so in its middle."""
    import textwrap

    miss = rows[rows["n_seeds"] == 0]
    if not len(miss):
        return
    names = ", ".join(f"{r.representation}/{r.model}" for r in miss.itertuples())
    if len(miss) == len(rows):
        ax.text(0.5, 0.5, textwrap.fill(f"missing (no finished run): {names}", 45), transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="firebrick")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.minorticks_off()
    else:
        ax.text(0.01, 0.01, textwrap.fill(f"missing: {names}", 70), transform=ax.transAxes, fontsize=7,
                color="firebrick", va="bottom")


def pareto_front(x: np.ndarray, y: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Indices of the points no other point beats on both cost (lower x) and metric, sorted by x."""
    sign = 1.0 if higher_is_better else -1.0
    order = np.lexsort((-sign * y, x))
    front, best = [], -np.inf
    for i in order:
        if sign * y[i] > best:
            front.append(i)
            best = sign * y[i]
    return np.array(front, dtype=int)


@styled
def accuracy_vs_compute(rs: RunSet, agg: pd.DataFrame, out_dir: Path) -> list[Path]:
    from bench.report.comparison import higher_is_better

    tasks = rs.tasks
    fig, axes = new_figure(len(tasks))
    col = colours(sorted(agg["representation"].unique()))
    for ax, task in zip(axes, tasks):
        m = rs.primary(task)
        rows = agg[agg["task"] == task].sort_values(["representation", "model"], kind="mergesort")
        ok = rows[(rows["n_seeds"] > 0) & np.isfinite(rows[f"test/{m}"].astype(float))
                  & np.isfinite(rows["compute/flops_per_ecg"].astype(float))]
        for _, r in ok.iterrows():
            x, y = float(r["compute/flops_per_ecg"]), float(r[f"test/{m}"])
            lo, hi = r.get(f"test/{m}_lo"), r.get(f"test/{m}_hi")
            yerr = [[y - lo], [hi - y]] if _finite(lo) and _finite(hi) else None
            ax.errorbar([x], [y], yerr=yerr, fmt=KIND_MARKER.get(r["rep_kind"], "D"), color=col[r["representation"]],
                        ms=7, capsize=2, lw=1)
            ax.annotate(r["model"], (x, y), textcoords="offset points", xytext=(5, 3), fontsize=7)
        if len(ok):
            x = ok["compute/flops_per_ecg"].to_numpy(float)
            y = ok[f"test/{m}"].to_numpy(float)
            task_name = rs.cells.loc[rs.cells["task"] == task, "task_name"].iloc[0]
            f = pareto_front(x, y, higher_is_better(task_name))
            # above the error bars: neighbouring models' bars would otherwise hide the front's steps
            ax.step(x[f], y[f], where="post", color="black", ls="--", lw=1.3, zorder=4)
        ax.set_xscale("log")
        ax.margins(x=0.12, y=0.08)
        ax.set_xlabel("forward FLOPs per ECG (log)")
        ax.set_ylabel(f"test {m} (mean over seeds, 95% CI)")
        ax.set_title(task)
        ax.grid(True, which="major", alpha=0.3)
        _missing_note(ax, rows)
    _legend(fig, col, agg, ncols=2 if len(tasks) == 1 else 4)
    fig.suptitle("Accuracy vs compute (dashed: Pareto front)")
    return save(fig, out_dir, "accuracy_vs_compute")


def _legend(fig, col: dict, agg: pd.DataFrame, ncols: int = 4) -> None:
    from matplotlib.lines import Line2D

    kinds = agg.drop_duplicates("representation").set_index("representation")["rep_kind"]
    handles = [Line2D([], [], color=c, marker=KIND_MARKER.get(kinds.get(rep, ""), "D"), ls="",
                      label=f"{rep} ({KIND_LABEL.get(kinds.get(rep, ''), '?')})") for rep, c in col.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), ncols), fontsize=8,
               frameon=False)


@styled
def resolution_sweep(rs: RunSet, agg: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per task: metric, FLOPs and training time against image width, one line per image model; the best matrix
    model's metric as a dashed reference."""
    from matplotlib.ticker import EngFormatter

    from bench.report.aggregate import best_by, validation_metric
    from bench.report.comparison import higher_is_better

    img = agg[(agg["rep_kind"] == "image") & np.isfinite(agg["width"].astype(float))]
    tasks = rs.tasks
    fig, axes = new_figure(3 * len(tasks), ncols=3, panel=(4.3, 3.3))
    col = colours(sorted(img["model"].unique()))
    for t, task in enumerate(tasks):
        m = rs.primary(task)
        task_name = rs.cells.loc[rs.cells["task"] == task, "task_name"].iloc[0]
        ax_m, ax_f, ax_t = axes[3 * t: 3 * t + 3]
        for model, rows in img[(img["task"] == task) & (img["n_seeds"] > 0)].groupby("model", sort=True):
            rows = rows.sort_values("width")
            w = rows["width"].to_numpy(float)
            y = rows[f"test/{m}"].to_numpy(float)
            err = np.vstack([y - rows[f"test/{m}_lo"].to_numpy(float), rows[f"test/{m}_hi"].to_numpy(float) - y])
            ax_m.errorbar(w, y, yerr=np.where(np.isfinite(err), err, 0), marker="s", color=col[model], capsize=2,
                          label=model)
            ax_f.plot(w, rows["compute/flops_per_ecg"].to_numpy(float), marker="s", color=col[model], label=model)
            ax_t.plot(w, rows["compute/train_s"].to_numpy(float), marker="s", color=col[model], label=model)
        ref = best_by(agg, task, validation_metric(m), higher_is_better(task_name), rep_kind="sequence")
        if ref is not None:
            ax_m.axhline(ref[f"test/{m}"], color="0.3", ls="--", lw=1,
                         label=f"best matrix: {ref['representation']}/{ref['model']}")
            ax_f.axhline(ref["compute/flops_per_ecg"], color="0.3", ls="--", lw=1)
            ax_t.axhline(ref["compute/train_s"], color="0.3", ls="--", lw=1)
        for value, ls, label in zip(_sweep_oracles(rs, img[(img["task"] == task) & (img["n_seeds"] > 0)], task),
                                    (":", "-."), ("oracle", "fQRS-blind oracle")):
            if _finite(value):
                ax_m.axhline(value, color="k", ls=ls, lw=1, label=label)
        ax_m.set_ylabel(f"test {m}")
        ax_f.set_ylabel("forward FLOPs per ECG")
        ax_f.yaxis.set_major_formatter(EngFormatter())
        for ax in (ax_f, ax_t):
            ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
        ax_t.set_ylabel("training time (s)")
        widths = sorted(set(img.loc[img["task"] == task, "width"].astype(float)))
        for ax in (ax_m, ax_f, ax_t):
            ax.set_xlabel("image width (px, log scale)")
            if widths:
                ax.set_xscale("log", base=2)
                ax.set_xticks(widths, [f"{w:g}" for w in widths])
                ax.minorticks_off()
            ax.grid(True, alpha=0.3)
        for ax, what in ((ax_m, m), (ax_f, "FLOPs"), (ax_t, "training time")):
            ax.set_title(f"{task}: {what}", fontsize=10)
        if img[img["task"] == task].empty:
            ax_m.text(0.5, 0.5, "no image representation with a width", ha="center", transform=ax_m.transAxes)
        else:
            ax_m.legend(fontsize=7)
        _missing_note(ax_m, img[img["task"] == task])
    fig.suptitle("Image-resolution sweep (dashed: best matrix model; dotted / dash-dot: full / fQRS-blind oracle)")
    return save(fig, out_dir, "resolution_sweep")


def _sweep_oracles(rs: RunSet, rows: pd.DataFrame, task: str) -> tuple[float, float]:
    """(full, fQRS-blind) oracle primary metric on the test ECGs of the task's first finished image run."""
    from bench.report.resolution import oracle_values
    from bench.report.comparison import predictions as _predictions, task_instance as _task_instance

    if rows.empty:
        return float("nan"), float("nan")
    r = rows.sort_values(["model", "width"], kind="mergesort").iloc[0]
    preds = _predictions(rs, task, r["representation"], r["model"])
    o = oracle_values(_task_instance(rs, task), preds[min(preds)], n_boot=0)
    return o["full"], o["blind"]


def gradcam_tiles(rs: RunSet, per_pair: int = 1) -> tuple[list[tuple[str, Path]], list[str]]:
    """(tiles, missing) for the first task with Grad-CAM maps. Tiles: (title, local PNG), per representation x
    model that is not on feature vectors, from the lowest seed whose run has maps, its first `per_pair` (sorted by
    name). A run without maps yet gets them from its stored model and ECGs (logged to the run, so made once).
    Missing: one line per pair whose runs have no maps, with the reason (e.g. `[eval] log_model = false`)."""
    from mlflow import MlflowClient

    from bench.base.errors import TrackedModelError
    from bench.harness.gradcam import ARTIFACT_DIR, log_run_gradcam
    from bench.report.artifacts import download_dir

    client = MlflowClient(rs.tracking_uri)
    first_missing: list[str] | None = None
    for task in rs.tasks:
        tiles, missing = [], []
        runs = rs.runs[(rs.runs["task"] == task) & (rs.runs["rep_kind"] != "vector")]
        runs = runs.sort_values(["representation", "model", "seed"], kind="mergesort")
        for (rep, model), rows in runs.groupby(["representation", "model"], sort=True):
            reason = ""
            for rid, seed in zip(rows["run_id"], rows["seed"]):
                pngs = sorted(a.path for a in client.list_artifacts(rid, ARTIFACT_DIR) if a.path.endswith(".png"))
                if not pngs:
                    try:
                        pngs = sorted(log_run_gradcam(client, rid))
                    except TrackedModelError as e:
                        reason = reason or str(e).split(": ", 1)[-1]
                        continue
                local = Path(download_dir(rs.tracking_uri, rid, ARTIFACT_DIR))
                tiles += [(f"{task}: {rep} / {model} (seed {seed})", local / Path(p).name) for p in pngs[:per_pair]]
                break
            else:
                missing.append(f"{task}: {rep} / {model}: {reason}")
        if tiles:
            return tiles, missing
        first_missing = missing if first_missing is None else first_missing
    return [], first_missing or []


@styled
def gradcam_montage(rs: RunSet, out_dir: Path) -> list[Path]:
    import textwrap

    import matplotlib.image as mpimg

    tiles, missing = gradcam_tiles(rs)
    fig, axes = new_figure(max(1, len(tiles)), ncols=2 if len(tiles) <= 4 else 3, panel=(6.0, 5.2))
    for ax, (title, path) in zip(axes, tiles):
        ax.imshow(mpimg.imread(str(path)))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if not tiles:
        axes[0].text(0.5, 0.5, "missing: no run has Grad-CAM maps", ha="center", va="center", color="firebrick")
        axes[0].axis("off")
    if missing:
        fig.supxlabel("\n".join(textwrap.fill(f"missing: {m}", 110) for m in missing), fontsize=8,
                      color="firebrick")
    fig.suptitle("Grad-CAM: where each model looks (first test ECG)")
    return save(fig, out_dir, "gradcam_montage")


def build_figures(rs: RunSet, agg: pd.DataFrame, out_dir: Path) -> list[Path]:
    files = accuracy_vs_compute(rs, agg, out_dir)
    files += curves.calibration_curves(rs, out_dir)
    files += curves.roc_curves(rs, out_dir)
    files += curves.km_vs_predicted(rs, out_dir)
    files += resolution_sweep(rs, agg, out_dir)
    files += gradcam_montage(rs, out_dir)
    files += forest_plots(rs, out_dir)
    files += learning_curve_figure(rs, out_dir)
    return files
