"""ECG vs clinical risk: a table per task (ECG, clinical-only, combined, paired differences, the ECG score as an
independent predictor) and a subgroup forest plot per task, both from the runs' logged metrics only.

Metric keys read (bench.harness.clinical): `test/<m>`, `clinical/<m>`, `combined/<m>`, `diff/<a>_vs_<b>/<m>`
with `_lo`/`_hi`, `independent/{hr,or}_per_sd[_lo|_hi]`, `independent/p`, `subgroup/<column>:<value>/<m>`,
`.../n_ecgs`, `.../positives`. A task whose runs logged no `clinical/` metric gets no table (the clinical layer was
off or the cohort had no covariates); a run missing a value reads `missing`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.multiplicity import holm
from bench.report.plotting import new_figure, save, styled
from bench.report.runs import RunSet
from bench.report.writers import MISSING, Table, fmt

_SUBGROUP = re.compile(r"^metrics\.subgroup/([^/]+)/([^/]+)$")


def _ci(row: pd.Series, key: str, digits: int = 3, signed: bool = False) -> str:
    v = row.get(f"metrics.{key}", np.nan)
    if not np.isfinite(v):
        return MISSING
    f = (lambda x: f"{x:+.{digits}f}") if signed else (lambda x: fmt(x, digits))
    lo, hi = row.get(f"metrics.{key}_lo", np.nan), row.get(f"metrics.{key}_hi", np.nan)
    return f(v) + (f" [{f(lo)}, {f(hi)}]" if np.isfinite(lo) and np.isfinite(hi) else "")


def clinical_tables(rs: RunSet) -> list[Table]:
    """One table per task with a clinical layer: a row per finished run (cell and seed)."""
    tables = []
    for task in rs.tasks:
        runs = rs.runs[rs.runs["task"] == task].sort_values(["representation", "model", "seed"])
        m = rs.primary(task)
        if runs.empty or f"metrics.clinical/{m}" not in runs.columns:
            continue
        hr = runs.get("metrics.independent/hr_per_sd", pd.Series(dtype=float))
        ratio = "hr_per_sd" if np.isfinite(hr.astype(float)).any() else "or_per_sd"
        rows, data = [], []
        for _, r in runs.iterrows():
            rows.append({"Representation": r["representation"], "Model": r["model"], "Seed": r["seed"],
                         "ECG": _ci(r, f"test/{m}"), "Clinical": _ci(r, f"clinical/{m}"),
                         "ECG + clinical": _ci(r, f"combined/{m}"),
                         "Δ combined − ECG": _ci(r, f"diff/combined_vs_ecg/{m}", signed=True),
                         "Δ combined − clinical": _ci(r, f"diff/combined_vs_clinical/{m}", signed=True),
                         f"ECG {ratio.replace('_', ' ')}": _ci(r, f"independent/{ratio}", 2),
                         "p": fmt(r.get("metrics.independent/p", np.nan), 4)})
            data.append({"representation": r["representation"], "model": r["model"], "seed": r["seed"],
                         **{k.removeprefix("metrics."): r[k] for k in sorted(runs.columns)  # stable file bytes
                            if k.startswith(("metrics.test/", "metrics.clinical/", "metrics.combined/",
                                             "metrics.diff/", "metrics.independent/"))
                            and (f"/{m}" in k or "independent/" in k)}})
        p_holm, n_tests = holm([d.get("independent/p", np.nan) for d in data])
        for row, d, v in zip(rows, data, p_holm):
            d["independent/p_holm"] = v
            row["p (Holm)"] = fmt(v, 4)
        tables.append(Table(
            name=f"clinical_{task}", title=f"{task}: ECG vs clinical risk ({m})",
            display=pd.DataFrame(rows), data=pd.DataFrame(data),
            notes=[f"Clinical: the task's outcome on the clinical covariates the cohort carries (CHARGE-AF's where "
                   f"present; PTB-XL: age, sex, height, weight), fitted on the training split; ECG + "
                   f"clinical: the ECG score stacked with the clinical model's linear predictor (2 inputs), "
                   f"fitted on the validation split. Δ: paired differences on the same patient resamples "
                   f"(95 % interval). ECG {ratio}: the ECG score per SD, "
                   f"adjusted for the covariates on the test split (patient-clustered Wald interval); p: its "
                   f"Wald test; p (Holm): Holm-adjusted over the {n_tests} p-values of this table (one per run).",
                   "The Δ columns carry intervals only (no p-value to adjust)."]))
    return tables


def _subgroup_order(key: str):
    """Column, then value: age bands in age order (lt.. first, ge.. last), numbers numerically, text alphabetically."""
    column, _, value = key.partition(":")
    head = value.split("-")[0]
    if value.startswith("lt"):
        rank = -np.inf
    elif value.startswith("ge"):
        rank = np.inf
    else:
        try:
            rank = float(head)
        except ValueError:
            return column, 1, 0.0, value
    return column, 0, rank, value


@styled
def forest_plots(rs: RunSet, out_dir: Path) -> list[Path]:
    """Per task: the primary metric by subgroup (95 % interval, ECGs and positives), for the run with the best
    validation primary metric (chosen on validation, never on test); tasks whose runs logged no subgroup get no
    figure."""
    from bench.report.aggregate import validation_metric

    paths: list[Path] = []
    for task in rs.tasks:
        runs = rs.runs[rs.runs["task"] == task]
        m = rs.primary(task)
        keys = sorted({g.group(1) for c in runs.columns if (g := _SUBGROUP.match(c)) and g.group(2) == m},
                      key=_subgroup_order)
        val = f"metrics.{validation_metric(m)}"
        if runs.empty or not keys or val not in runs.columns or runs[val].isna().all():
            continue
        best = runs.loc[runs[val].astype(float).idxmax()]
        keys = [k for k in keys if np.isfinite(best.get(f"metrics.subgroup/{k}/{m}", np.nan))]
        fig, (ax,) = new_figure(1, panel=(6.0, 0.9 + 0.35 * (len(keys) + 1)))
        y = np.arange(len(keys))[::-1]
        for yi, k in zip(y, keys):
            v = best[f"metrics.subgroup/{k}/{m}"]
            lo, hi = best.get(f"metrics.subgroup/{k}/{m}_lo", np.nan), best.get(f"metrics.subgroup/{k}/{m}_hi", np.nan)
            ax.errorbar(v, yi, xerr=[[v - lo], [hi - v]] if np.isfinite(lo) else None, fmt="s", color="k", ms=4,
                        capsize=2)
            ax.annotate(f"n={best.get(f'metrics.subgroup/{k}/n_ecgs', np.nan):.0f}, "
                        f"pos={best.get(f'metrics.subgroup/{k}/positives', np.nan):.0f}",
                        (1.0, yi), xycoords=("axes fraction", "data"), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=7)
        ax.axvline(best[f"metrics.test/{m}"], color="grey", ls="--", lw=0.8)
        ax.set_yticks(y, [k.replace(":", " = ") for k in keys])
        ax.set_xlabel(f"{m} (95 % patient-bootstrap interval; dashed: all test ECGs)")
        ax.set_title(f"{task}: {best['representation']} / {best['model']}, seed {best['seed']}", fontsize=9)
        paths += save(fig, out_dir, f"forest_{task}")
    return paths
