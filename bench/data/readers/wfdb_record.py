"""WFDB records (PhysioNet): `.hea` header + `.dat`/`.mat` signal files, read with the `wfdb` package.

Covers PTB-XL, PTB (15 leads: the Frank X/Y/Z leads are dropped by lead normalisation) and the CinC Challenge
`.mat` (MATLAB v4) signal files. The path may be the header, any signal file the header names, or the record name.
Samples are read as integers so WFDB's invalid-sample value (-32768) is caught as filler rather than a NaN.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bench.base.errors import ECGCorruptError, ECGTooLargeError, ECGValidationError
from bench.data.readers.base import (
    max_ecg_bytes, parse_datetime, register_format, samples_to_read, unit_scale_to_mv,
)
from bench.base.signal import Signal
from bench.data.validate import reject_filler

_RECORD_LINE = re.compile(r"^\s*[\w.-]+(/\d+)?\s+\d+(\s+[0-9.eE+-]+(/[0-9.eE+-]+)?(\([^)]*\))?)?(\s+\d+)?")

#: SNOMED-CT codes used in CinC 2020/2021 `# Dx:` lines -> statement text (the common rhythm/morphology classes).
SNOMED_TEXT = {
    "164889003": "atrial fibrillation", "164890007": "atrial flutter", "426783006": "sinus rhythm",
    "426177001": "sinus bradycardia", "427084000": "sinus tachycardia", "427393009": "sinus arrhythmia",
    "426627000": "bradycardia", "270492004": "1st degree AV block", "164947007": "prolonged PR interval",
    "6374002": "bundle branch block", "164909002": "left bundle branch block",
    "733534002": "complete left bundle branch block", "59118001": "right bundle branch block",
    "713427006": "complete right bundle branch block", "713426002": "incomplete right bundle branch block",
    "445118002": "left anterior fascicular block", "39732003": "left axis deviation",
    "47665007": "right axis deviation", "251146004": "low QRS voltages",
    "698252002": "nonspecific intraventricular conduction disorder", "10370003": "pacing rhythm",
    "365413008": "poor R wave progression", "427172004": "premature ventricular contractions",
    "17338001": "ventricular premature beats", "284470004": "premature atrial contraction",
    "63593006": "supraventricular premature beats", "111975006": "prolonged QT interval",
    "164917005": "Q wave abnormal", "164934002": "T wave abnormal", "59931005": "T wave inversion",
    "164865005": "myocardial infarction", "426434006": "anterior ischemia", "55930002": "ST changes",
    "164873001": "left ventricular hypertrophy", "67741000119109": "left atrial enlargement",
    "164930006": "ST elevation", "429622005": "ST depression", "164912004": "P wave change",
}
_NON_STATEMENT_KEYS = {"age", "sex", "rx", "hx", "sx", "ecg date", "dx"}


def _header_path(path: Path) -> Path | None:
    if path.suffix.lower() == ".hea":
        return path
    hea = path.with_suffix(".hea")
    return hea if hea.is_file() else None


def sniff(head: bytes, path: Path) -> bool:
    hea = _header_path(path)
    if hea is None:
        return False
    if hea != path:  # a signal file: its header must name it
        with open(hea, "rb") as f:
            text = f.read(65536).decode("latin-1")
        return any(line.split()[:1] == [path.name] for line in text.splitlines()[1:] if line.strip())
    first = next((ln for ln in head.decode("latin-1").splitlines() if ln.strip() and not ln.startswith("#")), "")
    return bool(_RECORD_LINE.match(first)) and b"\x00" not in head


#: Bits per sample of the WFDB signal formats (310 and 311 pack three samples in four bytes).
_FORMAT_BITS = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12, "310": 32 / 3,
                "311": 32 / 3}


def _stored_frames(folder: Path, signal_lines: list[list[str]]) -> int | None:
    """Frames (samples per signal) the signal files hold, from their sizes and the `format[xN][+offset]` fields; None
    where a signal line has a skew or a format this does not size (wfdb then checks the length itself)."""
    files: dict[str, list[float]] = {}
    for line in signal_lines:
        m = re.fullmatch(r"(\d+)(?:x(\d+))?(?:\+(\d+))?", line[1]) if len(line) > 1 else None
        if m is None or m.group(1) not in _FORMAT_BITS:
            return None
        bits_offset = files.setdefault(line[0], [0.0, int(m.group(3) or 0)])
        bits_offset[0] += _FORMAT_BITS[m.group(1)] * int(m.group(2) or 1)
    return min(int(((folder / name).stat().st_size - offset) * 8 // bits) for name, (bits, offset) in files.items())


def _statements(comments: list[str]) -> tuple[list[str], dict[str, str]]:
    """Diagnostic statements and key/value facts from header comments (CinC `# Dx:`, PTB `Reason for admission`)."""
    facts, statements = {}, []
    for c in comments:
        key, sep, value = c.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        facts[key] = value
        if key.lower() == "dx":
            for code in filter(None, (v.strip() for v in value.split(","))):
                statements.append(f"{SNOMED_TEXT.get(code, 'SNOMED-CT')} ({code})" if code.isdigit() else code)
        elif key.lower() not in _NON_STATEMENT_KEYS and value.lower() not in ("", "n/a", "no", "unknown"):
            if any(w in key.lower() for w in ("diagnos", "infarction (localization)", "reason for admission")):
                statements.append(f"{key}: {value}")
    return statements, facts


@register_format("wfdb", sniff=sniff, priority=10, label="WFDB record (PhysioNet)")
def read(path: Path) -> Signal:
    import wfdb
    from wfdb.io._signal import INVALID_SAMPLE_VALUE  # wfdb's own table: format -> the digital value of "invalid"

    hea = _header_path(path)
    base = hea.with_suffix("")
    lines = [ln.split() for ln in hea.read_text("latin-1").splitlines() if ln.strip() and not ln.startswith("#")]
    record = lines[0] if lines else []
    if len(record) < 3:  # wfdb would silently assume 250 Hz
        raise ECGValidationError(path, f"WFDB record line {' '.join(record)!r} gives no sampling rate",
                                 check="missing_rate")
    # sizes checked from the header text before wfdb allocates anything (wfdb's own header parser is slow)
    try:
        n_sig, sig_len = int(record[1]), int(record[3]) if len(record) > 3 else None
    except ValueError as e:
        raise ECGCorruptError(path, f"WFDB record line {' '.join(record)!r} is malformed") from e
    if n_sig == 0 or sig_len is None or len(lines) < n_sig + 1:
        raise ECGCorruptError(path, "WFDB header declares no signals, no length, or fewer signal lines than signals")
    files = {ln[0] for ln in lines[1:n_sig + 1]}
    missing = [f for f in files if not (hea.parent / f).is_file()]
    if missing:
        raise ECGCorruptError(path, f"WFDB signal file(s) {missing} named by the header are missing")
    available = sum((hea.parent / f).stat().st_size for f in files)
    if available > max_ecg_bytes():
        raise ECGTooLargeError(path, f"WFDB signal files hold {available} bytes, over the {max_ecg_bytes()}-byte bound")
    if sig_len * n_sig > 4 * available + 1024:
        raise ECGCorruptError(
            path, f"header declares {sig_len} x {n_sig} samples but the signal files hold {available} bytes"
        )
    warnings: list[str] = []
    stored = _stored_frames(hea.parent, lines[1:n_sig + 1])
    n = sig_len if stored is None else samples_to_read(path, "WFDB signal files", stored, sig_len, warnings)
    rec = wfdb.rdrecord(str(base), physical=False, return_res=32, sampto=n or None)
    if rec.fs is None:
        raise ECGValidationError(path, "WFDB header has no sampling rate", check="missing_rate")
    d = np.asarray(rec.d_signal).T  # (leads, samples) int
    fmts = [str(f) for f in (rec.fmt or [None] * len(rec.sig_name))]
    for fmt in sorted(set(fmts)):  # WFDB reserves the lowest value of each format for "invalid sample"
        rows = [k for k, f in enumerate(fmts) if f == fmt]
        invalid = () if INVALID_SAMPLE_VALUE.get(fmt) is None else (INVALID_SAMPLE_VALUE[fmt],)
        reject_filler(d[rows], [rec.sig_name[k] for k in rows], path, fs=float(rec.fs), declared=invalid)
    gain = np.array([g if g else 200.0 for g in rec.adc_gain], dtype=np.float64)[:, None]
    baseline = np.array(rec.baseline, dtype=np.float64)[:, None]
    scale = []
    for lead, unit in zip(rec.sig_name, rec.units or [None] * len(rec.sig_name)):
        s = unit_scale_to_mv(unit, default=1.0 if not unit or unit.upper() == "NU" else None)
        if s is None:
            raise ECGValidationError(path, f"lead {lead}: unknown units {unit!r}", check="units")
        scale.append(s)
    data = ((d - baseline) / gain * np.array(scale)[:, None]).astype(np.float32)
    statements, facts = _statements(list(rec.comments or []))
    acquired = rec.base_datetime.isoformat() if getattr(rec, "base_datetime", None) else None
    if acquired is None and facts.get("ECG date"):  # PTB: '# ECG date: 01/10/1990' (day/month/year)
        acquired = parse_datetime(facts["ECG date"], ("%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d"))
    meta = {
        "device": None,
        "acquired": acquired,
        "patient_id": None,
        "statements": statements,
        "header_comments": facts,
        "record": rec.record_name,
    }
    return Signal(data=data, fs=float(rec.fs), leads=tuple(rec.sig_name), meta=meta, warnings=warnings)
