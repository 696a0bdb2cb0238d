"""Curve figures from the runs' stored predictions: calibration (reliability), ROC, and Kaplan-Meier observed vs
predicted cumulative incidence for survival tasks.

Which arrays to plot comes from the task itself (`Task.metric_calls`): the (label, probability) pair behind its
`ece` call for calibration, behind its primary call (`Task.primary_call`) when that is an AUROC for ROC, so no
figure knows a task's column names.
Survival curves need the survival contract of the records table (`af_time_days`, `af_event`, optional
`prevalent_af`, bench/base/cohort.py) and per-interval survival scores `surv_00..` (S_k = P(no AF by day 73 k));
the incident curves read S_k / S_0, so prevalent AF never enters them.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.plotting import colours, new_figure, save, styled
from bench.report.paired import ORACLE, SCORE, WAVEFORM_ORACLE, split_predictions
from bench.report.runs import RunSet

SURV = re.compile(r"^surv_\d+$")


def _pairs_with_predictions(rs: RunSet, task: str) -> list[tuple[str, str, dict[int, pd.DataFrame]]]:
    from bench.report.tables import _predictions

    out = []
    for rep, model in rs.pairs(task):
        preds = _predictions(rs, task, rep, model)
        if preds:
            out.append((rep, model, preds))
    return out


def _call(task_obj, pred: pd.DataFrame, *, metric: str, primary: bool = False, which: str = SCORE):
    """(y, p) of the task's first metric call with this metric (its primary call only, with `primary`), masked;
    None if the task has none."""
    records, scores = split_predictions(pred, which)
    records, scores = records.reset_index(drop=True), scores.reset_index(drop=True)
    calls = [task_obj.primary_call(records, scores)] if primary else task_obj.metric_calls(records, scores)
    for c in calls:
        if c.metric == metric and len(c.arrays) == 2:
            keep = np.ones(len(c.arrays[0]), bool) if c.mask is None else np.asarray(c.mask, bool)
            y, p = np.asarray(c.arrays[0], float)[keep], np.asarray(c.arrays[1], float)[keep]
            if y.ndim == 1 and p.ndim == 1:
                return y, p
    return None


def _pooled(task_obj, preds: dict[int, pd.DataFrame], **kw):
    got = [_call(task_obj, preds[s], **kw) for s in sorted(preds)]
    got = [g for g in got if g is not None]
    if not got:
        return None
    return np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])


@styled
def calibration_curves(rs: RunSet, out_dir: Path) -> list[Path]:
    """Reliability diagram per task with a probability output: observed frequency vs mean predicted probability
    in deciles of the prediction, seeds pooled."""
    from sklearn.calibration import calibration_curve

    from bench.report.tables import _task_instance

    panels = []
    for task in rs.tasks:
        task_obj = _task_instance(rs, task)
        lines = []
        for rep, model, preds in _pairs_with_predictions(rs, task):
            yp = _pooled(task_obj, preds, metric="ece")
            if yp is not None and len(np.unique(yp[0])) == 2:
                obs, pred = calibration_curve(yp[0], yp[1], n_bins=10, strategy="quantile")
                lines.append((f"{rep} / {model}", pred, obs))
        if lines:
            panels.append((task, lines))
    return _line_panels(panels, out_dir, "calibration_curves", "mean predicted probability (decile)",
                        "observed frequency", "Calibration (seeds pooled; diagonal: perfect)")


@styled
def roc_curves(rs: RunSet, out_dir: Path) -> list[Path]:
    """ROC per task whose primary metric is an AUROC: true-positive rate averaged over seeds at each FPR."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from bench.report.tables import _task_instance

    grid = np.linspace(0, 1, 201)
    panels = []
    for task in rs.tasks:
        task_obj = _task_instance(rs, task)
        lines = []
        for rep, model, preds in _pairs_with_predictions(rs, task):
            tprs, aucs = [], []
            for s in sorted(preds):
                yp = _call(task_obj, preds[s], metric="auroc", primary=True)
                if yp is None or len(np.unique(yp[0])) < 2:
                    continue
                fpr, tpr, _ = roc_curve(yp[0], yp[1])
                tprs.append(np.interp(grid, fpr, tpr))
                aucs.append(roc_auc_score(yp[0], yp[1]))
            if tprs:
                lines.append((f"{rep} / {model} (AUROC {np.mean(aucs):.3f})", grid, np.mean(tprs, axis=0)))
        if lines:
            panels.append((task, lines))
    return _line_panels(panels, out_dir, "roc_curves", "false-positive rate", "true-positive rate",
                        "ROC (mean over seeds; diagonal: chance)")


def _line_panels(panels, out_dir: Path, name: str, xlabel: str, ylabel: str, title: str) -> list[Path]:
    fig, axes = new_figure(max(1, len(panels)), panel=(4.8, 4.6))
    labels = sorted({lab.split(" (")[0] for _, lines in panels for lab, *_ in lines})
    col = colours(labels)
    for ax, (task, lines) in zip(axes, panels):
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
        for lab, x, y in lines:
            ax.plot(x, y, marker="o" if name.startswith("cal") else None, ms=3, lw=1.3, color=col[lab.split(" (")[0]],
                    label=lab)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=xlabel, ylabel=ylabel, title=task)
        ax.set_aspect("equal")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6.5, loc="lower right")
    if not panels:
        axes[0].text(0.5, 0.5, "missing: no finished run of a task with this output", ha="center", color="firebrick")
        axes[0].axis("off")
    fig.suptitle(title)
    return save(fig, out_dir, name)


def _survival_arrays(pred: pd.DataFrame, which: str):
    """(time days, event, predicted incident survival S_k / S_0 on days 73 k, k >= 1 (n, K - 1)) of the incident
    rows, or None."""
    from tasks.af_survival import incident_survival

    records, scores = split_predictions(pred, which)
    cols = sorted(c for c in scores.columns if SURV.match(c))
    if not cols or not {"af_time_days", "af_event"} <= set(records.columns):
        return None
    keep = np.ones(len(records), bool)
    if "prevalent_af" in records.columns:
        keep &= pd.to_numeric(records["prevalent_af"], errors="coerce").fillna(0).to_numpy() != 1
    t = pd.to_numeric(records["af_time_days"], errors="coerce").to_numpy(float)
    e = pd.to_numeric(records["af_event"], errors="coerce").to_numpy(float)
    keep &= np.isfinite(t) & np.isfinite(e)
    return t[keep], e[keep] == 1, incident_survival(scores[cols].to_numpy(float)[keep])


@styled
def km_vs_predicted(rs: RunSet, out_dir: Path, n_groups: int = 3) -> list[Path]:
    """Survival tasks: per model (lowest seed) and the two oracles (full, waveform), the Kaplan-Meier cumulative
    incidence in tertiles of predicted 5-year risk (solid) against the mean predicted cumulative incidence of the
    same tertile (dashed)."""
    from bench.base.metrics.survival import kaplan_meier
    from tasks._survival_encoding import SURVIVAL_DAYS

    panels = []
    for task in rs.tasks:
        pairs = _pairs_with_predictions(rs, task)
        found = []
        for rep, model, preds in pairs:
            arr = _survival_arrays(preds[min(preds)], SCORE)
            if arr is not None:
                found.append((f"{task}: {rep} / {model} (seed {min(preds)})", arr))
        if found:
            first = pairs[0][2]
            for prefix, name in ((ORACLE, "oracle (true risk)"),
                                 (WAVEFORM_ORACLE, "waveform oracle (what the ECG shows)")):
                arr = _survival_arrays(first[min(first)], prefix)
                if arr is not None:
                    found.append((f"{task}: {name}", arr))
        panels += found
    fig, axes = new_figure(max(1, len(panels)), ncols=3, panel=(4.4, 3.4))
    group_col = ["tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:green"]
    for ax, (title, (t, e, surv)) in zip(axes, panels):
        ends = SURVIVAL_DAYS[1:surv.shape[1] + 1]
        risk = 1.0 - surv[:, -1]
        cuts = np.quantile(risk, np.linspace(0, 1, n_groups + 1)[1:-1])
        group = np.searchsorted(cuts, risk, side="right")
        days = np.linspace(0, ends[-1], 200)
        for g in range(n_groups):
            m = group == g
            if m.sum() < 2:
                continue
            obs = 1.0 - kaplan_meier(t[m], e[m].astype(float), days)
            ax.step(days / 365.25, obs, where="post", color=group_col[g], lw=1.4,
                    label=f"tertile {g + 1} observed (n={int(m.sum())})")
            ax.plot(np.r_[0.0, ends] / 365.25, np.r_[0.0, 1.0 - surv[m].mean(0)], ls="--", color=group_col[g], lw=1.2)
        ax.set(xlabel="years after the ECG", ylabel="cumulative incidence", title=title, xlim=(0, ends[-1] / 365.25))
        ax.title.set_fontsize(8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, loc="upper left")
    if not panels:
        axes[0].text(0.5, 0.5, "missing: no finished survival run", ha="center", color="firebrick")
        axes[0].axis("off")
    fig.suptitle("Kaplan-Meier observed (solid) vs mean predicted (dashed) cumulative incidence, "
                 "by tertile of predicted 5-year risk")
    return save(fig, out_dir, "km_vs_predicted")
