"""Patient-bootstrap speed of the AF survival evaluation (200 resamples, ~400 test ECGs), against a reference
that materialises each resample and scores it with lifelines and scikit-survival, as one would write it with the
libraries. The reference computes fewer metrics (no ICI/E50/Cox slope), so the ratio understates the gain.
Run with `make bench`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.base.bootstrap import bootstrap_indices, resample_rows, resample_weights
from bench.harness.evaluation import evaluate_with_ci
from bench.data.simulator import simulate
from tasks import TASKS

N_BOOT = 200


@pytest.fixture(scope="module")
def af_test_set():
    records, _, oracle = simulate(220, 3)
    task = TASKS.get("af_survival")()
    keep = np.asarray(task.select(records), bool)
    rec, orc = records[keep].reset_index(drop=True), oracle[keep].reset_index(drop=True)
    scores = pd.DataFrame(task.oracle_scores(orc))
    return task, rec, scores


def test_bench_weighted_bootstrap(benchmark, af_test_set):
    task, rec, scores = af_test_set
    benchmark.group = f"af_survival bootstrap ({N_BOOT} resamples)"
    benchmark.name = f"bench[{len(rec)} ECGs, all metrics]"
    metrics, _ = benchmark.pedantic(lambda: evaluate_with_ci(task, rec, scores, n_boot=N_BOOT, seed=0),
                                    rounds=3, iterations=1)
    assert np.isfinite(metrics["test/c_index_lo"])


def test_reference_lifelines_sksurv(benchmark, af_test_set):
    sks = pytest.importorskip("sksurv.metrics")
    from lifelines import KaplanMeierFitter
    from lifelines.utils import concordance_index
    from sksurv.util import Surv

    task, rec, scores = af_test_set
    benchmark.group = f"af_survival bootstrap ({N_BOOT} resamples)"
    benchmark.name = f"reference[{len(rec)} ECGs, lifelines + scikit-survival]"
    inc = (rec["prevalent_af"] != 1).to_numpy()
    t = rec["af_time_days"].to_numpy(float)[inc]
    e = rec["af_event"].to_numpy(float)[inc] == 1
    s = scores[inc].reset_index(drop=True)
    surv = s[[f"surv_{k:02d}" for k in range(24)]].to_numpy()
    weights = resample_weights(rec["patient_id"].to_numpy()[inc],
                               bootstrap_indices(rec["patient_id"].to_numpy()[inc], N_BOOT, 0))

    def one(rows):
        tt, ee, r5 = t[rows], e[rows], s["risk_5y"].to_numpy()[rows]
        y = Surv.from_arrays(ee, tt)
        out = [concordance_index(tt, -r5, ee), sks.concordance_index_ipcw(y, y, r5, tau=1825.0)[0]]
        for col, day in (("risk_1y", 365.0), ("risk_2y", 730.0)):
            out.append(sks.cumulative_dynamic_auc(y, y, s[col].to_numpy()[rows], [day])[0][0])
        out.append(sks.integrated_brier_score(y, y, surv[rows][:, 4:], 73.0 * np.arange(5, 25)))
        dec = pd.qcut(r5, 10, labels=False, duplicates="drop")
        for d in np.unique(dec):
            m = dec == d
            KaplanMeierFitter().fit(tt[m], ee[m]).survival_function_at_times([1825.0])
        return out

    def run():
        return [one(resample_rows(w)) for w in weights]

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    assert len(res) == N_BOOT
