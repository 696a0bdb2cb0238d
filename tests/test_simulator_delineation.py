"""An independent delineator (neurokit2's continuous-wavelet `ecg_delineate`) measures the planted PR, P duration
and QRS duration of simulated ECGs close to their set values. Skipped when neurokit2 is not installed."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from bench.data.simulator import simulate

nk = pytest.importorskip("neurokit2")


def _nearest(events, r_peaks, lo, hi):
    """Per R peak, the event within [lo, hi] samples (500 Hz) of it, NaN when none; returned in ms."""
    ev = np.array([e for e in events if e == e], float)
    out = []
    for r in r_peaks:
        d = ev - r
        d = d[(d >= lo) & (d <= hi)]
        out.append(d[np.argmin(np.abs(d))] if len(d) else np.nan)
    return np.array(out) * 2.0


def test_neurokit_measures_planted_intervals():
    records, signals, _ = simulate(40, seed=21)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in np.flatnonzero((records["af_rhythm"] == 0) & (records["marker_lbbb"] == 0)):
            clean = nk.ecg_clean(signals[i, 10].astype(float), sampling_rate=500)  # V5
            _, rp = nk.ecg_peaks(clean, sampling_rate=500)
            _, w = nk.ecg_delineate(clean, rp, sampling_rate=500, method="cwt")
            r = np.asarray(rp["ECG_R_Peaks"])
            p_on = _nearest(w["ECG_P_Onsets"], r, -200, -20)
            p_off = _nearest(w["ECG_P_Offsets"], r, -150, 0)
            q_on = _nearest(w["ECG_R_Onsets"], r, -80, 0)
            q_off = _nearest(w["ECG_R_Offsets"], r, 0, 120)
            rec = records.iloc[i]
            rows.append((rec["pr_ms"], np.nanmedian(q_on - p_on), rec["p_dur_ms"], np.nanmedian(p_off - p_on),
                         rec["qrs_ms"], np.nanmedian(q_off - q_on)))
    a = np.array(rows)
    for k, (name, max_mae) in enumerate((("PR", 20.0), ("P duration", 12.0), ("QRS", 20.0))):
        truth, meas = a[:, 2 * k], a[:, 2 * k + 1]
        ok = ~np.isnan(meas)
        assert ok.sum() >= 0.5 * len(ok), name
        mae = np.abs(meas[ok] - truth[ok]).mean()
        corr = np.corrcoef(truth[ok], meas[ok])[0, 1]
        assert mae < max_mae, (name, mae)
        assert corr > 0.6, (name, corr)
