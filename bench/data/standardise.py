"""`standardise(signal)`: any decoded ECG -> (12, 5000) float32 mV at 500 Hz in the house lead order (DESIGN.md).

What it does, all recorded in `meta['standardise']`:
- derives missing limb leads from those it has (Einthoven: II = I + III; Goldberger: aVR = -(I + II)/2,
  aVL = I - II/2, aVF = II - I/2; without I or II, both are solved by least squares from any two independent
  limb leads) and, when the file gives redundant ones, measures how far they break those laws
  (relative RMS residual; above `EINTHOVEN_TOLERANCE` the signal gets a warning: swapped or mislabelled electrodes);
- resamples with a polyphase filter (`scipy.signal.resample_poly`); a non-integer rate ratio (e.g. 599.88 Hz) uses
  the closest fraction with denominator <= 1000, and the residual rate error is recorded;
- crops or pads to `duration_s`. Rule: a longer recording keeps its centre (the start and end of an acquisition carry
  the lead-on and filter-settling transients); a shorter one is padded at the end with each lead's last value, so no
  step is introduced.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from bench.base.errors import ECGValidationError
from bench.base.signal import DURATION_S, FS, STANDARD_LEADS, Signal

EINTHOVEN_TOLERANCE = 0.10
MAX_DENOMINATOR = 1000


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _relative_residual(residual: np.ndarray, *refs: np.ndarray) -> float:
    """RMS of the (offset-free) residual relative to the larger reference lead's RMS (at least 0.05 mV)."""
    scale = max(max(_rms(r - r.mean()) for r in refs), 0.05)
    return _rms(residual - residual.mean()) / scale


#: Each limb lead as a combination of (I, II): Einthoven and Goldberger.
LIMB_BASIS = {"I": (1.0, 0.0), "II": (0.0, 1.0), "III": (-1.0, 1.0),
              "aVR": (-0.5, -0.5), "aVL": (1.0, -0.5), "aVF": (-0.5, 1.0)}


def limb_rank(names) -> int:
    """How many independent limb-lead directions the given lead names span (2 = all six can be derived)."""
    rows = [LIMB_BASIS[n] for n in names if n in LIMB_BASIS]
    return int(np.linalg.matrix_rank(np.array(rows))) if rows else 0


def _limb_leads(leads: dict[str, np.ndarray], path: str) -> tuple[dict[str, np.ndarray], list[str], dict]:
    """Complete I, II, III, aVR, aVL, aVF; returns (leads, derived names, residuals).

    With I and II given, the others follow directly. Otherwise I and II are solved by least squares from whatever
    limb leads the file gives (any two independent ones suffice, e.g. II and III, or aVR and aVL)."""
    given = [k for k in LIMB_BASIS if k in leads]
    if limb_rank(given) < 2:
        raise ECGValidationError(path, f"cannot derive limb leads from {given}: need two independent limb leads",
                                 check="missing_lead")
    derived: list[str] = []
    if "I" not in leads or "II" not in leads:
        a = np.array([LIMB_BASIS[k] for k in given])
        solved = np.linalg.lstsq(a, np.stack([leads[k] for k in given]), rcond=None)[0]
        for k, row in zip(("I", "II"), solved):
            if k not in leads:
                leads[k] = row
                derived.append(k)
    i, ii = leads["I"], leads["II"]
    residuals: dict[str, float | None] = {"einthoven": None, "goldberger": None}
    if "III" in given and "I" in given and "II" in given:
        residuals["einthoven"] = _relative_residual(i + leads["III"] - ii, i, ii)
    formulas = {"III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2}
    augmented = [k for k in ("aVR", "aVL", "aVF") if k in given]
    if augmented:
        residuals["goldberger"] = max(_relative_residual(leads[k] - formulas[k], leads[k], formulas[k])
                                      for k in augmented)
    for k, v in formulas.items():
        if k not in leads:
            leads[k] = v
            derived.append(k)
    return leads, derived, residuals


def _rate_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    frac = Fraction(fs_out / fs_in).limit_denominator(MAX_DENOMINATOR)
    if frac.numerator == 0:
        raise ValueError(f"rate ratio {fs_out}/{fs_in} has no usable rational approximation")
    return frac.numerator, frac.denominator


def standardise(signal: Signal, *, fs: int = FS, duration_s: float = DURATION_S) -> Signal:
    """Return a new Signal with data (12, fs * duration_s) float32 in STANDARD_LEADS order at `fs` Hz."""
    path = signal.path
    if not signal.fs or not np.isfinite(signal.fs) or signal.fs <= 0:
        raise ECGValidationError(path, f"missing or invalid sampling rate ({signal.fs!r})", check="missing_rate")
    cal = signal.meta.get("calibration_samples") or {}
    head, tail = int(cal.get("start", 0)), int(cal.get("end", 0))
    # a calibration pulse / padding marked by the reader is no ECG: never part of the 10 s kept nor of the lead checks
    stop = signal.data.shape[1] - tail
    leads = {name: np.asarray(row[head:stop], dtype=np.float64) for name, row in zip(signal.leads, signal.data)}
    missing = [v for v in STANDARD_LEADS[6:] if v not in leads]
    if missing:
        raise ECGValidationError(path, f"missing precordial lead(s) {missing}", check="missing_lead")
    leads, derived, residuals = _limb_leads(leads, path)
    warnings = list(signal.warnings)
    broken = [law for law, r in residuals.items() if r is not None and r > EINTHOVEN_TOLERANCE]
    for law in broken:
        warnings.append(f"given limb leads break {law.capitalize()}'s law (relative residual {residuals[law]:.2f})")
    x = np.stack([leads[k] for k in STANDARD_LEADS])
    record: dict = {
        "fs_in": float(signal.fs), "n_samples_in": int(x.shape[1]), "derived_leads": derived,
        "einthoven_residual": residuals["einthoven"], "goldberger_residual": residuals["goldberger"],
        "limb_leads_inconsistent": bool(broken),
        "resampled_from": None, "calibration_samples_left_out": head + tail,
    }
    if abs(signal.fs - fs) > 1e-9:
        up, down = _rate_ratio(signal.fs, fs)
        x = resample_poly(x, up, down, axis=1)
        record.update(resampled_from=float(signal.fs), up=up, down=down,
                      rate_error=float(signal.fs * up / down / fs - 1.0))
    target = int(round(fs * duration_s))
    n = x.shape[1]
    if n > target:
        start = (n - target) // 2
        x = x[:, start:start + target]
        record.update(crop_samples=n - target, pad_samples=0, rule=f"centre crop: kept samples {start}..{start + target}")
    elif n < target:
        x = np.pad(x, ((0, 0), (0, target - n)), mode="edge")
        record.update(crop_samples=0, pad_samples=target - n, rule="end pad with each lead's last value")
    else:
        record.update(crop_samples=0, pad_samples=0, rule="none")
    meta = dict(signal.meta)
    meta["standardise"] = record
    return Signal(data=np.ascontiguousarray(x, dtype=np.float32), fs=float(fs), leads=STANDARD_LEADS,
                  path=signal.path, format=signal.format, meta=meta, warnings=warnings)
