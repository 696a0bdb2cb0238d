"""Cardiac dipole: sum-of-Gaussians P, Q, R, S, T waves in Frank X, Y, Z, and its projection onto the 12 leads.

Frank convention (Dower 1980): +X left, +Y inferior (feet), +Z posterior, so anterior forces are -Z. The waves are
Gaussians in time (not in phase as in ECGSYN / Sameni 2007) so the planted intervals are exact in ms: a wave
"extends" over +-2.5 sigma of its Gaussians, and the planted P duration, PR, QRS and QT use that definition.
Amplitudes follow the Sameni / FECGSYN fitted VCG (QRS ~1.3 mV along +X, septal forces anterior, terminal forces
posterior; T left-anterior) and give lead amplitudes inside the adult normal ranges.

Templates are computed once per ECG (a normal beat and a premature-atrial beat), then placed at each beat by FFT
convolution with impulse trains: one batch of ECGs costs a few FFTs, no Python loop over beats.
"""
from __future__ import annotations

import numpy as np

from bench.base.cohort import MI_TERRITORIES

FS = 500
N = 5000
#: Dower 1980 rows for I, II, V1..V6 (lead = a X + b Y + c Z); the other limb leads are derived (Einthoven).
DOWER_8 = np.array([
    [0.632, -0.235, 0.059],   # I
    [0.235, 1.066, -0.132],   # II
    [-0.515, 0.157, -0.917],  # V1
    [0.044, 0.164, -1.387],   # V2
    [0.882, 0.098, -1.277],   # V3
    [1.213, 0.127, -0.601],   # V4
    [1.125, 0.127, -0.086],   # V5
    [0.831, 0.076, 0.230],    # V6
])
#: Unit vectors of lost early-QRS forces per territory (normalised sums of the facing leads' Dower vectors).
TERRITORY_U = {
    "AMI": (0.31, 0.13, -0.94), "ASMI": (0.04, 0.12, -0.99), "ALMI": (0.97, -0.16, -0.17),
    "LMI": (0.96, -0.27, 0.11), "IMI": (-0.05, 0.99, -0.13), "ILMI": (0.50, 0.86, -0.06),
}
U_TERR = np.array([TERRITORY_U[t] for t in MI_TERRITORIES], float)
U_TERR /= np.linalg.norm(U_TERR, axis=1, keepdims=True)

T_START, T_END = -0.42, 0.78  # template window relative to QRS onset (s)
L = int(round((T_END - T_START) * FS))
_t = T_START + np.arange(L) / FS


def leads_from_dipole(v: np.ndarray) -> np.ndarray:
    """(..., 3, T) dipole -> (..., 8, T) leads I, II, V1..V6."""
    return np.einsum("lk,...kt->...lt", DOWER_8, v)


def twelve_from_eight(x8: np.ndarray) -> np.ndarray:
    """I, II, V1..V6 -> I, II, III, aVR, aVL, aVF, V1..V6 (Einthoven / Goldberger, exact)."""
    i, ii = x8[..., 0, :], x8[..., 1, :]
    limb = np.stack([i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2], axis=-2)
    return np.concatenate([limb, x8[..., 2:, :]], axis=-2)


def _rot(axis_rad, horiz_rad):
    """Rotation in the frontal (X-Y) plane, then the transverse (X-Z) plane; (B, 3, 3)."""
    ca, sa, ch, sh = np.cos(axis_rad), np.sin(axis_rad), np.cos(horiz_rad), np.sin(horiz_rad)
    o, z = np.ones_like(ca), np.zeros_like(ca)
    rf = np.stack([np.stack([ca, -sa, z], -1), np.stack([sa, ca, z], -1), np.stack([z, z, o], -1)], -2)
    rh = np.stack([np.stack([ch, z, -sh], -1), np.stack([z, o, z], -1), np.stack([sh, z, ch], -1)], -2)
    return rh @ rf


def _gauss(center, sigma, vec):
    """(B,) centre/sigma (s), (B, 3) vector -> (B, 3, L) contribution."""
    g = np.exp(-0.5 * ((_t[None, :] - center[:, None]) / sigma[:, None]) ** 2)
    return vec[:, :, None] * g[:, None, :]


def beat_templates(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Normal-beat and premature-atrial-beat templates (B, 3, L), in mV, for per-ECG parameters `p` (ms, flags).

    Morphology keys (`p_gain`, `t_gain`, `la_z`, `fqrs_amp`, `fqrs_sigma`, `fqrs_pos`, `qrs_shape_0..8`) are optional
    and default to a typical heart."""
    B = len(p["qrs"])
    pr, pd, d, qt = (p[k] / 1000.0 for k in ("pr", "pdur", "qrs", "qt"))
    lbbb, gain = p["lbbb"].astype(bool), p["qrs_gain"]
    ones = np.ones(B)

    def vec(x, y, z):
        return np.stack([np.broadcast_to(np.asarray(c, float), (B,)) for c in (x, y, z)], -1)

    # P: right atrium then left atrium; advanced IAB -> superior LA activation (biphasic inferior P);
    # PTFV1 -> posterior LA force (deep terminal negativity in V1).
    sp = pd / 6.5
    p_gain = p.get("p_gain", ones)[:, None]
    ra = vec(0.045, 0.11, -0.03) * p_gain
    la_y = np.where(p["adv_iab"], -0.07, 0.05)
    la_z = p.get("la_z", np.where(p["ptfv1"], 0.1, 0.02))
    la = vec(0.06, la_y, la_z) * np.sqrt(p_gain)
    p_wave = _gauss(-pr + 2.5 * sp, sp, ra) + _gauss(-pr + pd - 2.5 * sp, sp, la)
    p_wave = np.where(p["af_rhythm"][:, None, None], 0.0, p_wave)

    # QRS
    sept = np.where(lbbb[:, None], vec(0.30, 0.05, 0.25), vec(-0.12, -0.06, -0.25))
    main = np.where(lbbb[:, None], vec(1.0, 0.3, 0.6), vec(1.3, 0.55, -0.15))
    late = np.where(lbbb[:, None], vec(0.9, -0.1, 0.7), vec(-0.2, -0.2, 0.65))
    shape = np.stack([p.get(f"qrs_shape_{j}", np.zeros(B)) for j in range(9)], -1)  # N(0, 1) per patient
    sept, main, late = sept + 0.03 * shape[:, 0:3], main + 0.12 * shape[:, 3:6], late + 0.08 * shape[:, 6:9]
    c_sept = np.where(lbbb, 0.15, 0.20) * d
    s_sept = np.where(lbbb, 0.07, 0.07) * d
    c_main, s_main = np.where(lbbb, 0.42, 0.45) * d, np.where(lbbb, 0.12, 0.11) * d
    c_late, s_late = np.where(lbbb, 0.74, 0.72) * d, np.where(lbbb, 0.10, 0.10) * d
    # infarct: remove early forces toward the scar (Q waves in facing leads) and part of the R toward it
    u = U_TERR[p["territory"]]
    s_mv = p["scar_mv"][:, None]
    main = main - 0.6 * s_mv * u
    qrs = (_gauss(c_sept, s_sept, sept) + _gauss(c_main, s_main, main) + _gauss(c_late, s_late, late)
           + _gauss(0.25 * d, 0.10 * d, -s_mv * u))
    # fragmentation: a 20-50 uV notch (two narrow opposite Gaussians) mid-late QRS along the territory vector
    uf = U_TERR[p["fqrs_territory"]] * (p["fqrs"] * p.get("fqrs_amp", np.full(B, 0.035)))[:, None]
    sf = p.get("fqrs_sigma", np.full(B, 0.003))
    cf = p.get("fqrs_pos", np.full(B, 0.62)) * d
    qrs = qrs + _gauss(cf, sf, uf) - _gauss(cf + 2.2 * sf, sf, uf)
    qrs = qrs * gain[:, None, None]

    # T: ascending broad + descending narrower Gaussian ending at QT; LBBB -> discordant T; T inversion -> lateral
    # (X) component reversed; old infarct -> T pointing away from the scar and a small ST shift toward it.
    s2 = 0.085 * qt
    c2 = qt - 2.5 * s2
    tv = np.where(lbbb[:, None], vec(-0.25, 0.05, -0.35), vec(0.32, 0.15, -0.32))
    tv = tv * (np.sqrt(gain) * p.get("t_gain", ones))[:, None]
    tv[:, 0] *= np.where(p["t_inversion"] & ~lbbb, -0.8, 1.0)
    tv = tv - 0.5 * s_mv * u
    t_wave = _gauss(c2, s2, tv) + _gauss(c2 - 0.05 * qt / 0.4, 1.3 * s2, 0.45 * tv)
    # residual ST elevation over the scar (toward it: up in facing leads, down in reciprocal ones)
    st_c, st_s = d + 0.35 * (c2 - d), 0.25 * (c2 - d)
    t_wave = t_wave + _gauss(st_c, st_s, 0.25 * s_mv * u)

    common = qrs + t_wave
    normal = p_wave + common
    # premature atrial beat: low-atrial ectopic P (inverted inferior P), shorter PR
    pac_p = _gauss(-0.125 + 2.5 * 0.014 * ones, 0.014 * ones, vec(0.04, -0.08, 0.02)) + \
        _gauss(-0.125 + 0.09 - 2.5 * 0.014 * ones, 0.014 * ones, vec(0.04, -0.04, 0.03))
    pac = pac_p + common
    r = _rot(np.deg2rad(p["axis_deg"]), np.deg2rad(p["horiz_deg"]))
    return np.einsum("bij,bjl->bil", r, normal), np.einsum("bij,bjl->bil", r, pac)


def beat_onsets(p: dict, rng: np.random.Generator, k_max: int = 48):
    """QRS onset times (B, K) in s (NaN-free; beats outside the strip are harmless) and a PAC mask (B, K).

    Sinus: respiratory sinus arrhythmia plus small beat-to-beat noise; AF: irregular (lognormal RR, CV ~0.2);
    PACs: one or two premature beats at 65 % of RR followed by a 15 % longer pause."""
    B = len(p["hr"])
    rr0 = 60.0 / p["hr"]
    k = np.arange(k_max)[None, :]
    rsa = rng.uniform(0.01, 0.04, (B, 1)) * np.sin(2 * np.pi * rng.uniform(0.2, 0.3, (B, 1)) * k * rr0[:, None]
                                                   + rng.uniform(0, 2 * np.pi, (B, 1)))
    rr = rr0[:, None] * (1.0 + rsa + rng.normal(0, 0.012, (B, k_max)))
    af = p["af_rhythm"].astype(bool)
    rr[af] = rr0[af, None] * np.exp(rng.normal(0, 0.2, (af.sum(), k_max)))
    rr = np.maximum(rr, 0.3)
    t0 = -rng.uniform(0.3, 1.0, B) * rr0 - 0.4
    onsets = t0[:, None] + np.concatenate([np.zeros((B, 1)), np.cumsum(rr[:, :-1], 1)], 1)
    is_pac = np.zeros((B, k_max), bool)
    idx = np.arange(k_max)[None, :]
    for n_pac in (1, 2):
        who = p["pac"].astype(bool) & ~af & (rng.random(B) < (1.0 if n_pac == 1 else 0.4))
        kk = np.clip(np.argmax(onsets > rng.uniform(0.8, 9.0, B)[:, None], axis=1), 1, k_max - 2)
        shift = np.where(who, 0.35 * rr[np.arange(B), kk - 1], 0.0)[:, None]
        onsets = onsets - np.where(idx >= kk[:, None], shift, 0.0) + np.where(idx > kk[:, None], 0.5 * shift, 0.0)
        is_pac[who, kk[who]] = True
    return onsets, is_pac


def render_dipole(p: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(B, 3, 5000) dipole at 500 Hz and the measured mean heart rate (bpm) of each strip."""
    normal, pac = beat_templates(p)
    onsets, is_pac = beat_onsets(p, rng)
    B, K = onsets.shape
    pad = L + 10
    n_fft = 1 << int(np.ceil(np.log2(N + 2 * pad + L)))
    pos = np.round((onsets + T_START) * FS).astype(int) + pad
    ok = (pos >= 0) & (pos < N + 2 * pad)
    rows = np.broadcast_to(np.arange(B)[:, None], pos.shape)
    imp = np.zeros((2, B, n_fft))
    np.add.at(imp[0], (rows[ok & ~is_pac], pos[ok & ~is_pac]), 1.0)
    np.add.at(imp[1], (rows[ok & is_pac], pos[ok & is_pac]), 1.0)
    f_imp = np.fft.rfft(imp, n_fft, axis=-1)
    f_tpl = np.fft.rfft(np.stack([normal, pac]), n_fft, axis=-1)
    v = np.fft.irfft((f_imp[:, :, None, :] * f_tpl).sum(0), n_fft, axis=-1)[:, :, pad:pad + N]
    inside = (onsets >= 0) & (onsets <= N / FS)
    first = np.where(inside, onsets, np.inf).min(1)
    last = np.where(inside, onsets, -np.inf).max(1)
    hr = 60.0 * (inside.sum(1) - 1) / np.maximum(last - first, 1e-3)
    return v, hr
