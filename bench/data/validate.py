"""Checks that turn a decoded Signal into a usable ECG or an `ECGValidationError` naming the file and the reason.

Errors (the ECG is unusable): missing or implausible rate, NaN/inf, too short (< 8 s), unknown or duplicate or
missing leads, flat leads, saturated leads, filler/padding values decoded as signal, implausible amplitudes (a typical
lead peak over 10 mV usually means wrong units, as does a whole ECG under 0.05 mV; one lead over 25 mV is no ECG).
Warnings (kept in `signal.warnings`): one lead over 10 mV, clipped runs, spikes, large DC offsets, low-amplitude
leads, mains interference. Peaks are robust (99.9th percentile of |x - median|), so a single-sample spike does not decide.
"""
from __future__ import annotations

import numpy as np

from bench.base.errors import ECGValidationError
from bench.base.leads import canonical_lead, is_extra_lead
from bench.base.signal import Signal
from bench.data.standardise import LIMB_BASIS, limb_rank

MIN_DURATION_S = 8.0
MAX_PEAK_MV = 10.0  # typical (median over leads) peak above this: wrong units
MAX_LEAD_PEAK_MV = 25.0  # any single lead above this: not an ECG
MIN_ECG_PEAK_MV = 0.05
FLAT_PTP_MV = 0.01
LIMB = ("I", "II", "III")
PRECORDIAL = ("V1", "V2", "V3", "V4", "V5", "V6")
#: Raw int16 extremes writers put where there is no data without declaring it (or at the ADC rails).
UNDECLARED_FILLER = (-32768, 32767)
#: A run of an undeclared filler value at least this long (s) is padding: longer than a wide QRS complex, the longest
#: wave that can hold an amplifier at its rail. Shorter runs are signal, left to the saturation and clipping checks.
PADDING_MIN_S = 0.2


def normalise_leads(signal: Signal) -> Signal:
    """Map lead names to the standard spelling; drop known extra leads with a note in meta['dropped_leads'];
    raise on unknown or duplicate names."""
    keep, names, dropped, unknown = [], [], [], []
    for i, name in enumerate(signal.leads):
        canon = canonical_lead(name)
        if canon is not None:
            keep.append(i)
            names.append(canon)
        elif is_extra_lead(name):
            dropped.append(str(name))
        else:
            unknown.append(str(name))
    if unknown:
        raise ECGValidationError(signal.path, f"unknown lead name(s) {unknown}", check="unknown_lead")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ECGValidationError(signal.path, f"duplicate lead(s) {dup}", check="duplicate_lead")
    if dropped:
        signal.meta["dropped_leads"] = dropped
        signal.data = signal.data[keep]
    signal.leads = tuple(names)
    return signal


def mark_calibration(signal: Signal, *, min_s: float = 0.05) -> Signal:
    """Mark leading/trailing segments where every lead holds the same value (a calibration pulse such as Philips'
    trailing 1 mV step, or zero padding): no real ECG has I = II = III = V1 for 50 ms. The samples stay in the
    reading (its duration is the file's: an 11 s PageWriter file reads as 11 s, as `sierraecg` decodes it); the
    segments are recorded in meta['calibration_samples'] and a warning, and `standardise` leaves them out."""
    x = signal.data
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] == 0 or not signal.fs or signal.fs <= 0:
        return signal
    same = (x == x[:1]).all(axis=0)
    if not same.any():
        return signal
    differ = np.flatnonzero(~same)
    if differ.size == 0:
        return signal  # all leads identical everywhere: left for the flat/validation checks
    start, stop = int(differ[0]), int(differ[-1]) + 1
    head, tail = start, x.shape[1] - stop
    min_n = max(int(min_s * signal.fs), 2)
    head = head if head >= min_n else 0
    tail = tail if tail >= min_n else 0
    if head or tail:
        signal.meta["calibration_samples"] = {"start": head, "end": tail}
        signal.warnings.append(
            f"{head / signal.fs:.2f} s leading and {tail / signal.fs:.2f} s trailing samples are identical in every "
            "lead (calibration pulse or padding): kept in the reading, left out when standardised"
        )
    return signal


def reject_filler(raw: np.ndarray, leads, path, *, fs: float, declared=(), min_run: int = 3) -> None:
    """Raise when integer samples hold padding decoded as signal.

    A value the format or the file declares as "no data" (DICOM Waveform Padding Value, WFDB's invalid sample) is
    padding in any run of `min_run` samples. Nothing else is, unless it is an int16 extreme held for PADDING_MIN_S:
    a short run of one value (exact zeros on a quiet baseline, a spike clipped at the rail) is real signal in a file
    that declares no padding value, and rejecting the file for it would drop a good ECG."""
    raw = np.atleast_2d(raw)
    long_run = max(min_run, int(np.ceil(PADDING_MIN_S * fs)))
    checks = [(v, min_run, "declared padding") for v in declared]
    checks += [(v, long_run, "filler") for v in UNDECLARED_FILLER if v not in declared]
    for lead, row in zip(leads, raw):
        for v, shortest, what in checks:
            run = _longest_run(row == v)
            if run >= shortest:
                raise ECGValidationError(
                    path, f"lead {lead}: {run} consecutive {what} samples ({v}) decoded as signal", check="filler"
                )


def _longest_run(mask: np.ndarray) -> int:
    return int(_runs(mask).max(initial=0))


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of consecutive True values."""
    if not mask.any():
        return np.zeros(0, dtype=np.int64)
    padded = np.concatenate(([0], mask.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return edges[1::2] - edges[0::2]


def validate(signal: Signal, *, min_duration_s: float = MIN_DURATION_S) -> Signal:
    """Run every check on a signal whose leads are already normalised; returns it with warnings appended."""
    path = signal.path
    fs = signal.fs
    if fs is None or not np.isfinite(fs) or fs <= 0:
        raise ECGValidationError(path, f"missing or invalid sampling rate ({fs!r})", check="missing_rate")
    if not 50 <= fs <= 20000:
        raise ECGValidationError(path, f"implausible sampling rate {fs} Hz", check="missing_rate")
    x = signal.data
    if x.ndim != 2 or x.shape[0] != len(signal.leads):
        raise ECGValidationError(path, f"data shape {x.shape} does not match {len(signal.leads)} leads", check="shape")
    if x.shape[1] == 0:
        raise ECGValidationError(path, "no samples", check="too_short")
    bad = [lead for lead, row in zip(signal.leads, x) if not np.isfinite(row).all()]
    if bad:
        raise ECGValidationError(path, f"NaN or infinite samples in lead(s) {bad}", check="non_finite")
    if signal.duration_s < min_duration_s:
        raise ECGValidationError(
            path, f"too short: {signal.duration_s:.2f} s (< {min_duration_s:g} s)", check="too_short"
        )
    present = set(signal.leads)
    missing = [v for v in PRECORDIAL if v not in present]
    if limb_rank(present) < 2:
        missing += [lead for lead in LIMB if lead not in present]
    if missing:
        raise ECGValidationError(
            path, f"missing lead(s) {missing}: need V1-V6 and two independent limb leads (e.g. I and II)",
            check="missing_lead",
        )
    _drop_flat_redundant_limb_leads(signal)
    _check_amplitudes(signal)
    return signal


def _drop_flat_redundant_limb_leads(signal: Signal) -> None:
    """Some writers store the derived limb leads (III, aVR, aVL, aVF) as zeros. A flat limb lead that the other
    limb leads can replace is dropped with a warning (standardise derives it); any other flat lead stays an error."""
    ptp = signal.data.max(axis=1) - signal.data.min(axis=1)
    flat = {lead for lead, p in zip(signal.leads, ptp) if p < FLAT_PTP_MV and lead in LIMB_BASIS}
    live = [lead for lead, p in zip(signal.leads, ptp) if lead in LIMB_BASIS and lead not in flat]
    if not flat or limb_rank(live) < 2:
        return
    keep = [k for k, lead in enumerate(signal.leads) if lead not in flat]
    dropped = [lead for lead in signal.leads if lead in flat]
    signal.data = signal.data[keep]
    signal.leads = tuple(signal.leads[k] for k in keep)
    signal.meta["dropped_flat_leads"] = dropped
    signal.warnings.append(f"flat limb lead(s) {dropped} dropped: derived from the other limb leads instead")


def _check_amplitudes(signal: Signal) -> None:
    path, fs, x = signal.path, signal.fs, signal.data
    med = np.median(x, axis=1, keepdims=True)
    dev = np.abs(x - med)
    robust = np.percentile(dev, 99.9, axis=1)
    peak = dev.max(axis=1)
    ptp = x.max(axis=1) - x.min(axis=1)
    flat = [lead for lead, p in zip(signal.leads, ptp) if p < FLAT_PTP_MV]
    if len(flat) == len(signal.leads) and ptp.max() > 0:  # every lead tiny but moving: scaled, not disconnected
        raise ECGValidationError(
            path, f"implausible amplitude: largest lead peak-to-peak {ptp.max():.2e} mV (wrong units?)",
            check="amplitude",
        )
    if flat:
        raise ECGValidationError(path, f"flat lead(s) {flat} (peak-to-peak < {FLAT_PTP_MV} mV)", check="flat")
    min_run = max(int(0.02 * fs), 5)
    for lead, row, lo, hi in zip(signal.leads, x, x.min(axis=1), x.max(axis=1)):
        longest = 0
        for rail in (lo, hi):
            # share of the record held at the rail in runs of >= 20 ms, and how far the rail is from the rest of
            # the lead: a rail at the baseline (a quiet, coarsely quantised aVR whose maximum is its baseline) is
            # not saturation
            at_rail = row == rail
            runs = _runs(at_rail)
            longest = max(longest, int(runs.max(initial=0)))
            held = float(runs[runs >= min_run].sum()) / row.size
            if held > 0.3 and not at_rail.all() and abs(rail - np.median(row[~at_rail])) > 0.1:
                raise ECGValidationError(
                    path, f"lead {lead}: saturated ({held:.0%} of the record held at {rail:.3f} mV)", check="saturated"
                )
        if longest >= max(0.1 * fs, 10):
            signal.warnings.append(f"lead {lead}: clipped for {longest / fs:.2f} s at its extreme value")
    typical = float(np.median(robust))
    if typical > MAX_PEAK_MV:
        raise ECGValidationError(
            path, f"implausible amplitude: median lead peak {typical:.1f} mV (> {MAX_PEAK_MV:g} mV: wrong units?)",
            check="amplitude",
        )
    big = [f"{lead} {r:.1f} mV" for lead, r in zip(signal.leads, robust) if r > MAX_LEAD_PEAK_MV]
    if big:
        raise ECGValidationError(
            path, f"implausible amplitude in {big} (> {MAX_LEAD_PEAK_MV:g} mV)", check="amplitude"
        )
    if robust.max() < MIN_ECG_PEAK_MV:
        raise ECGValidationError(
            path, f"implausible amplitude: largest lead peak {robust.max():.4f} mV (< {MIN_ECG_PEAK_MV} mV: wrong units?)",
            check="amplitude",
        )
    _check_mains(signal)
    for lead, p, r, m, d in zip(signal.leads, peak, robust, med[:, 0], ptp):
        if r > MAX_PEAK_MV:
            signal.warnings.append(f"lead {lead}: implausibly large peak {r:.1f} mV")
        elif p > MAX_PEAK_MV:
            signal.warnings.append(f"lead {lead}: spike of {p:.1f} mV")
        if abs(m) > 2.0:
            signal.warnings.append(f"lead {lead}: baseline offset {m:.2f} mV")
        if d < 0.1:
            signal.warnings.append(f"lead {lead}: low amplitude (peak-to-peak {d:.3f} mV)")


def _check_mains(signal: Signal, share: float = 0.3) -> None:
    """Warn when 50 or 60 Hz (+-1 Hz) holds more than `share` of a lead's power above 1 Hz (mains interference)."""
    fs, x = signal.fs, signal.data
    n = min(x.shape[1], int(10 * fs))  # the central 10 s are enough for a spectral share
    x = x[:, (x.shape[1] - n) // 2:(x.shape[1] - n) // 2 + n]
    spec = np.abs(np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / fs)
    total = spec[:, freqs > 1.0].sum(axis=1) + 1e-12
    for mains in (50.0, 60.0):
        if mains + 1 >= fs / 2:
            continue
        band = spec[:, (freqs >= mains - 1) & (freqs <= mains + 1)].sum(axis=1) / total
        noisy = [lead for lead, b in zip(signal.leads, band) if b > share]
        if noisy:
            signal.warnings.append(f"mains interference at {mains:g} Hz in lead(s) {noisy}")
