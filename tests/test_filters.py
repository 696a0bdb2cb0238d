"""Preprocessing steps: the notch removes mains hum, the spline removes baseline wander but keeps the QRS, R peaks
land on the beats, the band-pass and median filters do what scipy's references do."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from representations._filters import (bandpass, detect_r_peaks, isoelectric_knots, median_filter, notch,
                                      remove_spline_baseline)

FS = 500
T = np.arange(5000) / FS


def beat_train(hr: float = 72.0, n_leads: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A clean PQRST train (Gaussian waves, PR 160 ms) on a flat baseline, and the R-peak samples."""
    rng = np.random.default_rng(seed)
    r_times = np.arange(0.4, 10.0 - 0.4, 60.0 / hr)
    gains = rng.uniform(0.5, 1.5, n_leads)
    x = np.zeros((n_leads, len(T)))
    for r in r_times:
        wave = (0.15 * np.exp(-((T - r + 0.16) / 0.025) ** 2)  # P
                - 0.1 * np.exp(-((T - r + 0.025) / 0.008) ** 2)  # Q
                + 1.2 * np.exp(-((T - r) / 0.010) ** 2)  # R
                - 0.25 * np.exp(-((T - r - 0.03) / 0.010) ** 2)  # S
                + 0.3 * np.exp(-((T - r - 0.28) / 0.06) ** 2))  # T
        x += gains[:, None] * wave[None, :]
    return x.astype(np.float32), np.rint(r_times * FS).astype(int)


def amplitude(x: np.ndarray, freq: float) -> np.ndarray:
    """Amplitude of the `freq` Hz component along the last axis (10 s records: 0.1 Hz bins)."""
    spec = np.abs(np.fft.rfft(x, axis=-1)) * 2 / x.shape[-1]
    return spec[..., int(round(freq * x.shape[-1] / FS))]


def test_notch_removes_60hz_and_keeps_the_rest():
    clean, _ = beat_train()
    hum = 0.3 * np.sin(2 * np.pi * 60 * T).astype(np.float32)
    out = notch(clean + hum)
    assert amplitude(clean + hum, 60).min() > 0.25
    assert amplitude(out, 60).max() < 0.003  # > 40 dB down
    # the width is about 5 Hz: 50 Hz and 70 Hz tones pass almost untouched
    for f in (10.0, 50.0, 70.0):
        tone = np.sin(2 * np.pi * f * T).astype(np.float32)
        assert 0.9 < amplitude(notch(tone), f) <= 1.001
    inner = slice(250, -250)
    assert np.abs(out - clean)[:, inner].max() < 0.1


def test_r_peaks_found_on_the_beats():
    for hr in (50, 72, 110, 160):
        x, r = beat_train(hr)
        peaks = detect_r_peaks(x)
        assert len(peaks) == len(r)
        assert np.abs(peaks - r).max() <= 15  # within 30 ms (the envelope is smoothed over 50 ms)


def test_isoelectric_knots_sit_in_the_pr_segment():
    x, r = beat_train()
    knots, values = isoelectric_knots(x, r)
    assert np.all((r[-len(knots):] - knots) == 40)  # 80 ms before each R
    assert np.abs(values).max() < 0.05  # flat between P and Q


def test_spline_removes_slow_drift_and_keeps_qrs():
    clean, r = beat_train()
    drift = (0.8 * np.sin(2 * np.pi * 0.15 * T + 0.5) + 0.3 * T / 10).astype(np.float32)
    out = remove_spline_baseline(clean + drift[None, :])
    inner = slice(int(r[0]) - 40, int(r[-1]) - 40)  # between the first and last knot
    resid = (out - clean)[:, inner]
    assert np.sqrt(np.mean(drift[inner] ** 2)) > 0.4
    assert np.sqrt(np.mean(resid ** 2)) < 0.02 and np.abs(resid).max() < 0.06
    for k in r[1:-1]:
        w = slice(k - 30, k + 30)
        np.testing.assert_allclose(np.ptp(out[:, w], axis=1), np.ptp(clean[:, w], axis=1), rtol=0.05)
    batch = remove_spline_baseline(np.stack([clean + drift, clean]))
    np.testing.assert_allclose(batch[0], out, atol=1e-6)


def test_spline_without_beats_is_defined():
    flat = np.full((12, 5000), 0.2, np.float32) + 0.01 * np.sin(2 * np.pi * 0.3 * T).astype(np.float32)
    out = remove_spline_baseline(flat)
    assert np.isfinite(out).all() and np.abs(np.median(out, axis=1)).max() < 1e-6


def test_bandpass_removes_dc_and_high_frequency():
    x = (1.0 + np.sin(2 * np.pi * 10 * T) + np.sin(2 * np.pi * 120 * T)).astype(np.float32)
    y = bandpass(x[None], 0.5, 40.0)[0]
    inner = slice(500, -500)
    assert abs(y[inner].mean()) < 0.01
    assert amplitude(y, 120) < 0.01 and 0.95 < amplitude(y, 10) < 1.01
    assert y.dtype == np.float32


@pytest.mark.parametrize("k", [3, 5])
def test_median_matches_scipy(k):
    x = np.random.default_rng(1).standard_normal((2, 12, 500)).astype(np.float32)
    np.testing.assert_array_equal(median_filter(x, k), ndimage.median_filter(x, size=(1, 1, k), mode="reflect"))
    np.testing.assert_array_equal(median_filter(x, 1), x)
