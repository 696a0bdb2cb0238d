"""The record-wise leak, measured: the same cells under the patient-wise split and the record-wise split
(`[split] record_wise_LEAKY = [false, true]`, runs tagged `split_kind` = patient / record_LEAKY), side by side.

Table `leak`, per (task, representation, model): the primary metric under each split, the difference
(record-wise minus patient-wise) with a 95 % interval, and how many test patients of the record-wise split also had an
ECG in its training part. The two splits have different test sets, so no paired bootstrap exists: each run's own
patient-bootstrap distribution (`bootstrap_metrics.csv`, drawn on its test set) is averaged over the seeds both splits
finished, and the interval is the percentile interval of the difference of the two independent distributions taken
resample by resample (independent draws, so their variances add).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from bench.report.learning_curve import tagged_runs
from bench.report.runset import RunSet
from bench.report.writers import MISSING, Table, fmt

PATIENT, RECORD = "patient", "record_LEAKY"


@lru_cache(maxsize=512)
def bootstrap_metrics(tracking_uri: str, run_id: str) -> pd.DataFrame:
    """A run's per-resample test metrics (`bootstrap_metrics.csv`, one row per patient-bootstrap resample)."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="bootstrap_metrics.csv",
                                               tracking_uri=tracking_uri)
    return pd.read_csv(path)


def _side(rs: RunSet, runs: pd.DataFrame, metric: str) -> tuple[float, np.ndarray]:
    """(mean over the runs of `metric`, its per-resample values averaged over the runs)."""
    values = pd.to_numeric(runs[f"metrics.{metric}"], errors="coerce").to_numpy(float)
    boots = [bootstrap_metrics(rs.tracking_uri, rid)[metric].to_numpy(float) for rid in runs["run_id"]]
    n = min(len(b) for b in boots)
    return float(np.mean(values)), np.mean([b[:n] for b in boots], axis=0)


def _count(runs: pd.DataFrame, metric: str) -> float:
    col = f"metrics.{metric}"
    v = pd.to_numeric(runs[col], errors="coerce") if col in runs.columns else pd.Series(dtype=float)
    return float(v.mean()) if v.notna().any() else float("nan")


def leak_tables(rs: RunSet) -> list[Table]:
    """The `leak` table ([] when no run of the experiment used the record-wise split)."""
    from tasks import TASKS

    finished, attempts = tagged_runs(rs, "split_kind")
    if not (attempts["split_kind"] == RECORD).any():
        return []
    disp, data, shown = [], [], []
    for (task, rep, model), att in attempts.groupby(["task", "representation", "model"], sort=True):
        m = rs.primary(task)
        metric = f"test/{m}"
        done = finished[(finished["task"] == task) & (finished["representation"] == rep)
                        & (finished["model"] == model)]
        by_kind = {k: done[done["split_kind"] == k] for k in (PATIENT, RECORD)}
        seeds = sorted(set(by_kind[PATIENT]["seed"]) & set(by_kind[RECORD]["seed"]))
        rec = {"task": task, "representation": rep, "model": model, "metric": m,
               "seeds": ",".join(map(str, seeds)), "patient": np.nan, "record": np.nan, "diff": np.nan,
               "diff_lo": np.nan, "diff_hi": np.nan, "n_boot": 0,
               "test_patients_record": _count(by_kind[RECORD], "data/n_test_patients"),
               "test_patients_in_train_record": _count(by_kind[RECORD], "data/n_test_patients_in_train"),
               "test_patients_patient": _count(by_kind[PATIENT], "data/n_test_patients")}
        diff_text = MISSING
        if seeds:
            shown.append(done[done["seed"].isin(seeds)])  # both splits' runs of the paired seeds
            pat, pat_boot = _side(rs, by_kind[PATIENT][by_kind[PATIENT]["seed"].isin(seeds)], metric)
            lea, lea_boot = _side(rs, by_kind[RECORD][by_kind[RECORD]["seed"].isin(seeds)], metric)
            n = min(len(pat_boot), len(lea_boot))
            boot = lea_boot[:n] - pat_boot[:n]
            boot = boot[np.isfinite(boot)]
            rec.update({"patient": pat, "record": lea, "diff": lea - pat, "n_boot": len(boot)})
            diff_text = f"{lea - pat:+.3f}"
            if len(boot):
                rec["diff_lo"], rec["diff_hi"] = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
                diff_text += f" [{rec['diff_lo']:+.3f}, {rec['diff_hi']:+.3f}]"
        leaked, n_test = rec["test_patients_in_train_record"], rec["test_patients_record"]
        higher = getattr(TASKS.get(att["task_name"].iloc[0]), "higher_is_better", True)
        disp.append({"Task": task, "Representation / model": f"{rep} / {model}",
                     "Metric": f"{m} ({'higher' if higher else 'lower'} is better)",
                     "Patient-wise": fmt(rec["patient"]), "Record-wise (LEAKY)": fmt(rec["record"]),
                     "Δ record − patient [95% CI]": diff_text,
                     "Leaked test patients": f"{fmt(leaked, 0)} / {fmt(n_test, 0)}",
                     "Seeds (both splits)": rec["seeds"] or MISSING})
        data.append(rec)
    notes = ["Same cells under the patient-wise split and the record-wise split (`record_wise_LEAKY = [false, true]`); "
             "values are means over the seeds both splits finished ('missing' where either has none).",
             "Δ: record-wise minus patient-wise. The test sets differ, so the interval is not paired: each run's "
             "patient-bootstrap resamples of its own test set (bootstrap_metrics.csv) are averaged over the seeds, and "
             "the 95 % percentile interval is taken over the resample-by-resample difference of the two independent "
             "distributions.",
             "Leaked test patients: test patients of the record-wise split with at least one ECG in its training part, "
             "of all its test patients (0 under a patient-wise split by construction)."]
    return [Table("leak", "Record-wise leak: the same cells under a patient-wise and a record-wise split",
                  pd.DataFrame(disp), pd.DataFrame(data), notes,
                  runs=pd.concat(shown) if shown else finished.iloc[0:0])]
