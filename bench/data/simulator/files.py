"""Write a simulated cohort as a folder of ECG files plus `labels.csv` and `oracle.csv` (a valid `folder:` source).

Layout: `ecgs/<ecg_id>.hea/.dat` (WFDB) or `ecgs/<ecg_id>.xml` (MUSE), `labels.csv` (the folder schema of
bench.base.labels plus the planted measurements hr_bpm, pr_ms, p_dur_ms, qrs_ms, qt_ms and marker_* columns),
`oracle.csv` (ecg_id + oracle columns), `simulator.json` (version, seed, size, config). labels.csv is written last
and atomically, so a folder with a labels.csv is complete.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bench.base.process_pool import parent_bound_pool
from bench.data.simulator.config import SIM_VERSION, SimConfig
from bench.data.simulator.generate import BATCH, plan_cohort, public_labels, render_batch
from bench.data.simulator.writers import write_muse_xml, write_wfdb


def _write_batch(args) -> np.ndarray:
    rows, b, seed, cfg, out = args
    native, _, hr = render_batch(rows, b, seed, cfg)
    for (_, r), x, h in zip(rows.iterrows(), native, hr):
        path = out / r["file"]
        if r["format"] == "muse":
            meas = {"VentricularRate": h, "PRInterval": r["pr_ms"], "QRSDuration": r["qrs_ms"], "QTInterval": r["qt_ms"]}
            write_muse_xml(path, x, int(r["fs"]), patient_id=r["patient_id"], age=r["age"], sex=int(r["sex"]),
                           acquired=r["ecg_datetime"], statements=r["statements"], measurements=meas)
        else:
            write_wfdb(path, x, int(r["fs"]), age=r["age"], sex=int(r["sex"]),
                       statements=r["statements"], acquired=r["ecg_datetime"])
    return hr


def write_cohort(out_dir: str | os.PathLike, n_patients: int, seed: int, cfg: SimConfig | None = None,
                 workers: int = 1) -> pd.DataFrame:
    """Generate and write the cohort; returns the labels table written to labels.csv."""
    cfg = cfg or SimConfig()
    out = Path(out_dir)
    (out / "ecgs").mkdir(parents=True, exist_ok=True)
    plan, oracle = plan_cohort(n_patients, seed, cfg)
    jobs = [(plan.iloc[s:s + BATCH], b, seed, cfg, out) for b, s in enumerate(range(0, len(plan), BATCH))]
    if workers > 1 and len(jobs) > 1:
        with parent_bound_pool(workers) as ex:  # workers die with this process, even on kill -9
            hrs = list(ex.map(_write_batch, jobs))
    else:
        hrs = [_write_batch(j) for j in jobs]
    plan["hr_bpm"] = np.concatenate(hrs).round(1) if hrs else np.array([])
    labels = public_labels(plan)
    oracle.to_csv(out / "oracle.csv", index=False, float_format="%.6g")
    meta = {"simulator_version": SIM_VERSION, "seed": seed, "n_patients": n_patients, "n_ecgs": len(plan),
            "config": dataclasses.asdict(cfg)}
    (out / "simulator.json").write_text(json.dumps(meta, indent=1))
    tmp = out / "labels.csv.tmp"
    labels.to_csv(tmp, index=False)
    os.replace(tmp, out / "labels.csv")
    return labels
