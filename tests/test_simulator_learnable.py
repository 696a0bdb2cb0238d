"""A few hundred simulated patients carry a learnable signal: a plain model on median beats (no planted labels)
reaches a clear AUROC for MI and LVEF <= 40 %, below the oracle."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, find_peaks, sosfiltfilt
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench.data.simulator import simulate
from bench.harness.splits import patient_split


def _median_beats(x: np.ndarray) -> np.ndarray:
    """(n, 12, T) -> (n, 12, 350) median beat around the peaks of the spatial magnitude (-300..+400 ms)."""
    mag = np.sqrt((x ** 2).sum(1))
    out = np.zeros((len(x), 12, 350))
    for i, m in enumerate(mag):
        peaks, _ = find_peaks(m, height=0.5 * np.percentile(m, 99), distance=100)
        peaks = peaks[(peaks >= 150) & (peaks < x.shape[-1] - 200)]
        if len(peaks) >= 2:
            out[i] = np.median(np.stack([x[i, :, k - 150:k + 200] for k in peaks]), 0)
    return out


@pytest.mark.slow
def test_median_beat_model_learns_mi_and_lvef():
    records, signals, oracle = simulate(600, seed=9)
    x = sosfiltfilt(butter(2, [0.5, 100], btype="band", fs=500, output="sos"), signals, axis=-1)
    feats = np.concatenate([_median_beats(x)[:, :, ::2].reshape(len(x), -1), records[["age", "sex"]].to_numpy()], 1)
    sp = patient_split(records, seed=0)
    train, test = np.r_[sp.train, sp.val], sp.test
    for y, p_oracle, mask, floor in (
        (records["mi"].to_numpy() == 1, oracle["oracle_p_mi"].to_numpy(), np.ones(len(records), bool), 0.75),
        ((records["lvef"] <= 40).to_numpy(), oracle["oracle_p_lvef"].to_numpy(), records["lvef"].notna().to_numpy(), 0.65),
    ):
        a, b = np.intersect1d(train, np.flatnonzero(mask)), np.intersect1d(test, np.flatnonzero(mask))
        model = make_pipeline(StandardScaler(), PCA(40, random_state=0), LogisticRegression(C=0.1, max_iter=3000))
        model.fit(feats[a], y[a])
        auc = roc_auc_score(y[b], model.predict_proba(feats[b])[:, 1])
        assert floor < auc < roc_auc_score(y[b], p_oracle[b]) + 0.03, (auc, floor)
