"""Recording noise on the 8 independent leads (I, II, V1..V6), in mV, at resting-ECG levels.

Baseline wander (respiration 0.15-0.35 Hz plus slow drift), mains (50 or 60 Hz and a small 3rd harmonic), EMG
(broadband Gaussian, a few uV RMS) and, in a few ECGs, one electrode-motion transient (100-500 ms, 0.1-0.5 mV).
Noise is added before the limb leads III, aVR, aVL, aVF are derived, as an electrocardiograph does, so
Einthoven's law holds exactly in the recorded 12 leads.
"""
from __future__ import annotations

import numpy as np

from bench.data.simulator.config import SimConfig


def add_noise(x8: np.ndarray, rng: np.random.Generator, cfg: SimConfig, fs: int = 500) -> np.ndarray:
    """x8 (B, 8, T) clean leads in mV -> noisy copy (float32)."""
    B, nl, T = x8.shape
    t = (np.arange(T) / fs)[None, :]
    out = x8.astype(np.float32, copy=True)

    def per_lead_sine(freq, amp):
        """amp (B, nl, 1) * sin(2 pi f t + phase per lead), with sines computed once per ECG (angle addition)."""
        arg = 2 * np.pi * freq[:, None] * t
        ph = rng.uniform(0, 2 * np.pi, (B, nl, 1))
        a_s, a_c = (amp * np.cos(ph)).astype(np.float32), (amp * np.sin(ph)).astype(np.float32)
        return a_s * np.sin(arg).astype(np.float32)[:, None, :] + a_c * np.cos(arg).astype(np.float32)[:, None, :]

    amp = rng.uniform(*cfg.wander_mv, (B, 1, 1)) * rng.uniform(0.3, 1.0, (B, nl, 1))
    out += per_lead_sine(rng.uniform(0.15, 0.35, B), amp)
    out += per_lead_sine(rng.uniform(0.03, 0.1, B), 0.7 * amp)
    mains = np.where(rng.random(B) < 0.5, 50.0, 60.0)[:, None]
    pl = rng.uniform(*cfg.powerline_uv, (B, 1, 1)) * 1e-3 * rng.uniform(0.3, 1.0, (B, nl, 1))
    ph = rng.uniform(0, 2 * np.pi, (B, 1))
    hum = np.sin(2 * np.pi * mains * t + ph) + 0.2 * np.sin(6 * np.pi * mains * t + 3 * ph)
    out += pl.astype(np.float32) * hum.astype(np.float32)[:, None, :]
    emg = rng.uniform(*cfg.emg_uv, (B, 1, 1)) * 1e-3 * rng.uniform(0.6, 1.4, (B, nl, 1))
    out += rng.standard_normal((B, nl, T), dtype=np.float32) * emg.astype(np.float32)
    moved = np.flatnonzero(rng.random(B) < cfg.electrode_motion_prob)
    if len(moved):
        lead = rng.integers(0, nl, len(moved))
        t0 = rng.uniform(0.5, 9.5, len(moved))[:, None]
        w = rng.uniform(0.05, 0.25, len(moved))[:, None]
        a = rng.uniform(0.1, 0.5, len(moved))[:, None] * rng.choice([-1.0, 1.0], (len(moved), 1))
        out[moved, lead] += (a * np.exp(-0.5 * ((t - t0) / w) ** 2)).astype(np.float32)
    return out
