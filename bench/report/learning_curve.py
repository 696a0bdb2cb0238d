"""Learning curves: the primary metric against the number of training patients (`[split] train_sizes`), per task and
(representation, model), with the oracles' scores on the same test patients as ceilings.

- table `learning_curve`: rows (task, representation, model, training patients) -> metric [95 % CI] and seeds, plus
  one row per oracle (`oracle/<m>`, and `oracle_waveform/<m>` where the runs logged it);
- figure `learning_curve`: metric vs training patients (log x), one line per pair, oracle lines dashed.

The `RunSet` keeps one run per (task, representation, model, seed, fold), so these read the experiment's runs again
and tell them apart by their `train_size` tag (`tagged_runs`, shared with the leak table).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.aggregate import seed_ci_halfwidth
from bench.report.plotting import colours, new_figure, save, styled
from bench.report.runs import CELL, normalise, search_runs
from bench.report.runset import RunSet
from bench.report.writers import MISSING, NA, Table, fmt

#: Oracle prefixes drawn as ceilings, when the runs logged them: full truth, and what the waveform carries.
ORACLES = {"oracle": "--", "oracle_waveform": ":"}  # prefix -> line style in the figure


def tagged_runs(rs: RunSet, tag: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(finished, attempts): per cell and value of the run tag `tag` (column `tag`), the newest FINISHED run and the
    newest run of any status, among the experiment's runs that carry the tag and belong to the RunSet's cells."""
    df = normalise(search_runs(rs.tracking_uri, rs.experiment))
    col = f"tags.{tag}"
    if df.empty or col not in df.columns:
        empty = df.iloc[0:0].assign(**{tag: pd.Series(dtype=object)})
        return empty, empty
    df = df[df[col].notna()].assign(**{tag: lambda d: d[col]})
    pairs = set(zip(rs.cells["task"], rs.cells["representation"], rs.cells["model"]))
    df = df[[p in pairs for p in zip(df["task"], df["representation"], df["model"])]]
    df = df.sort_values(["start_time", "run_id"], ascending=[False, True], kind="mergesort")
    ident = CELL + [tag]
    return df[df["status"] == "FINISHED"].drop_duplicates(ident), df.drop_duplicates(ident)


def _values(frame: pd.DataFrame, metric: str) -> np.ndarray:
    col = f"metrics.{metric}"
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)


def _mean(v: np.ndarray) -> float:
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def curve_points(rs: RunSet) -> pd.DataFrame:
    """The learning curve's points (`curve_points_and_runs`)."""
    return curve_points_and_runs(rs)[0]


def curve_points_and_runs(rs: RunSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(points, the finished runs behind them: what the table's "Trained at" line counts).

    Points: one row per (task, representation, model, train_size) expected (every pair, size and seed any run of the
    task attempted; with a grid, only the grid's sizes, so older runs of other sizes do not show), and per task one
    row per oracle logged: `line` (model / oracle / oracle_waveform), metric, value, lo, hi (means over seeds of the
    runs' 95 % bootstrap bounds), seed_ci, n_seeds, n_expected, n_train_patients. Empty when no run carries a
    `train_size`."""
    finished, attempts = tagged_runs(rs, "train_size")
    rows, shown = [], []
    for task in sorted(attempts["task"].unique()):
        m = rs.primary(task)
        att = attempts[attempts["task"] == task]
        done = finished[finished["task"] == task]
        seeds = sorted(att["seed"].dropna().unique())
        sizes = sorted(att["train_size"].astype(int).unique()) if rs.train_sizes is None else \
            rs.train_sizes.get(task, [])
        for rep, model in sorted(set(zip(att["representation"], att["model"]))):
            for size in sizes:
                sel = done[(done["representation"] == rep) & (done["model"] == model)
                           & (done["train_size"].astype(int) == size)]
                v = _values(sel, f"test/{m}")
                shown.append(sel)
                rows.append({"task": task, "line": "model", "representation": rep, "model": model,
                             "train_size": size, "metric": m, "value": _mean(v),
                             "lo": _mean(_values(sel, f"test/{m}_lo")), "hi": _mean(_values(sel, f"test/{m}_hi")),
                             "seed_ci": seed_ci_halfwidth(v), "n_seeds": len(sel), "n_expected": len(seeds),
                             "n_train_patients": _mean(_values(sel, "data/n_train_patients"))})
        for prefix in ORACLES:  # every run of the task scores the same test patients: one oracle value per task
            v = _values(done, f"{prefix}/{m}")
            if np.isfinite(v).any():
                rows.append({"task": task, "line": prefix, "representation": prefix, "model": NA,
                             "train_size": 0, "metric": m, "value": _mean(v),
                             "lo": _mean(_values(done, f"{prefix}/{m}_lo")),
                             "hi": _mean(_values(done, f"{prefix}/{m}_hi")), "seed_ci": float("nan"),
                             "n_seeds": int(np.isfinite(v).sum()), "n_expected": int(np.isfinite(v).sum()),
                             "n_train_patients": float("nan")})
    shown = [f for f in shown if len(f)]
    return pd.DataFrame(rows), (pd.concat(shown) if shown else finished.iloc[0:0])


def _value_text(r) -> str:
    if r["n_seeds"] == 0 or not np.isfinite(r["value"]):
        return MISSING
    s = fmt(r["value"])
    if np.isfinite(r["lo"]) and np.isfinite(r["hi"]):
        s += f" [{fmt(r['lo'])}, {fmt(r['hi'])}]"
    return s + (f" ±{fmt(r['seed_ci'])}" if np.isfinite(r["seed_ci"]) else "")


def learning_curve_tables(rs: RunSet) -> list[Table]:
    """The `learning_curve` table ([] when no run of the experiment has a training size)."""
    pts, runs = curve_points_and_runs(rs)
    if pts.empty:
        return []
    disp = []
    for _, r in pts.iterrows():
        model = r["line"] == "model"
        seeds = f"{r['n_seeds']}/{r['n_expected']}" + ("" if r["n_seeds"] == r["n_expected"] else " (missing)")
        disp.append({"Task": r["task"], "Representation": r["representation"], "Model": r["model"],
                     "Training patients": str(int(r["train_size"])) if model else NA,
                     "Metric": r["metric"], "Value [95% CI]": _value_text(r), "Seeds": seeds if model else NA})
    notes = ["Training patients: the `[split] train_sizes` entry, a nested random subset of the training part "
             "(one permutation of its patients drawn with the split seed; smaller sets are prefixes of larger ones); "
             "every size is scored on the same validation and test patients.",
             "Value: mean over seeds [mean of the runs' 95 % patient-bootstrap bounds] ± 95 % t-interval half-width "
             "over seeds (with two or more). Seeds: finished/expected; 'missing' = no finished run.",
             "oracle: the simulator's true risk on the same test patients; oracle_waveform (where logged): the best "
             "score from what the waveform carries. Mean over the runs that logged it (train_size 0 in the CSV: no "
             "training)."]
    return [Table("learning_curve", "Learning curves: metric vs training patients", pd.DataFrame(disp),
                  pts, notes, runs=runs)]


@styled
def learning_curve_figure(rs: RunSet, out_dir: Path) -> list[Path]:
    """`learning_curve.png/.pdf` ([] when no run has a training size): one panel per task, metric vs training
    patients on a log axis, one line per (representation, model) with its 95 % bootstrap bars, oracles dashed."""
    pts = curve_points(rs)
    if pts.empty:
        return []
    tasks = sorted(pts["task"].unique())
    fig, axes = new_figure(len(tasks))
    lines = pts[pts["line"] == "model"]
    col = colours(sorted({f"{r}/{m}" for r, m in zip(lines["representation"], lines["model"])}))
    for ax, task in zip(axes, tasks):
        sub = pts[pts["task"] == task]
        groups = list(sub[sub["line"] == "model"].groupby(["representation", "model"], sort=True))
        for i, ((rep, model), g) in enumerate(groups):
            g = g[g["n_seeds"] > 0].sort_values("train_size")
            dodge = 1.03 ** (i - (len(groups) - 1) / 2)  # side by side, so overlapping intervals stay readable
            x, y = g["train_size"].to_numpy(float) * dodge, g["value"].to_numpy(float)
            err = np.vstack([y - g["lo"].to_numpy(float), g["hi"].to_numpy(float) - y])
            ax.errorbar(x, y, yerr=np.where(np.isfinite(err), err, 0), marker="o", capsize=2,
                        color=col[f"{rep}/{model}"], label=f"{rep} / {model}")
        for _, o in sub[sub["line"] != "model"].iterrows():
            ax.axhline(o["value"], color="0.3", ls=ORACLES[o["line"]], lw=1, label=f"{o['line']} ({fmt(o['value'])})")
        sizes = sorted(sub.loc[sub["line"] == "model", "train_size"].astype(int).unique())
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training patients (log scale)")
        ax.set_ylabel(f"test {sub['metric'].iloc[0]} (mean over seeds, 95% CI)")
        ax.set_title(task)
        ax.margins(y=0.08)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        miss = sub[(sub["line"] == "model") & (sub["n_seeds"] == 0)]
        if len(miss):
            ax.text(0.01, 0.01, "missing: " + ", ".join(f"{r.representation}/{r.model} n={r.train_size}"
                                                       for r in miss.itertuples()),
                    transform=ax.transAxes, fontsize=7, color="firebrick", va="bottom")
    fig.suptitle("Learning curves (dashed: oracle; dotted: waveform oracle)")
    return save(fig, out_dir, "learning_curve")
