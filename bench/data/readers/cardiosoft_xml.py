"""GE CardioSoft / CASE `CardiologyXML` (also UK Biobank field 20205): comma-separated counts x Resolution uV.

The waveform is plain text: `<StripData>` holds the 10 s rhythm (`SampleRate units="Hz"`, `Resolution
units="uVperLsb"`, one `<WaveformData lead="I">` per lead, counts separated by commas and line breaks). A
`<MedianSamples>` block holds the averaged beat and is never read as the ECG. Statements come from
`Interpretation/Diagnosis/DiagnosisText` and `Conclusion/ConclusionText`; the acquisition time from
`ObservationDateTime` (Year/Month/Day/Hour/Minute/Second children).
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import numpy as np

from bench.base.errors import ECGCorruptError, ECGValidationError
from bench.data.readers import _xml
from bench.data.readers.base import number, register_format, samples_to_read, unit_scale_to_mv, xml_root_name
from bench.base.signal import Signal
from bench.data.validate import reject_filler

_SEP = re.compile(r"[,;\s]+")


def sniff(head: bytes, path: Path) -> bool:
    return xml_root_name(head) == "CardiologyXML"


def _counts(path: Path, el, lead: str) -> np.ndarray:
    tokens = [t for t in _SEP.split(el.text or "") if t]
    if not tokens:
        raise ECGCorruptError(path, f"CardioSoft lead {lead}: empty WaveformData")
    try:
        return np.array([int(t) for t in tokens], dtype=np.int64)
    except ValueError as e:
        raise ECGCorruptError(path, f"CardioSoft lead {lead}: non-integer sample ({e})") from e


def _resolution_mv(path: Path, strip) -> float:
    """mV per count from `<Resolution units="uVperLsb">5</Resolution>` (units default to uV)."""
    res = _xml.child(strip, "Resolution")
    if res is None or not (res.text or "").strip():
        raise ECGValidationError(path, "CardioSoft StripData has no Resolution (uV per count)", check="units")
    unit = (res.get("units") or res.get("unit") or "uVperLsb").strip()
    base = re.sub(r"(?i)\s*(/|per)\s*(lsb|bit|count|unit)s?$", "", unit)
    to_mv = unit_scale_to_mv(base)
    if to_mv is None:
        raise ECGValidationError(path, f"CardioSoft Resolution in unknown units {unit!r}", check="units")
    value = number(res.text)
    if value <= 0:
        raise ECGValidationError(path, f"CardioSoft Resolution {value} {unit}", check="units")
    return value * to_mv


def _rate(path: Path, strip) -> float:
    el = _xml.child(strip, "SampleRate")
    if el is None or not (el.text or "").strip():
        raise ECGValidationError(path, "CardioSoft StripData has no SampleRate", check="missing_rate")
    fs = number(el.text)
    unit = (el.get("units") or "Hz").strip().lower()
    if unit in ("khz",):
        fs *= 1000.0
    elif unit not in ("hz", "1/s", "/s"):
        raise ECGValidationError(path, f"CardioSoft SampleRate in unknown units {unit!r}", check="missing_rate")
    return fs


def _acquired(doc) -> str | None:
    t = _xml.child(doc, "ObservationDateTime")
    if t is None:
        return None
    try:
        parts = [int(number(_xml.text(t, k) or "x")) for k in ("Year", "Month", "Day")]
        clock = [int(number(_xml.text(t, k) or "0")) for k in ("Hour", "Minute", "Second")]
        return datetime(*parts, *clock).isoformat()
    except (ValueError, TypeError):
        return None


def _statements(doc) -> list[str]:
    out = []
    interp = _xml.child(doc, "Interpretation")
    if interp is None:
        return out
    for section, item in (("Diagnosis", "DiagnosisText"), ("Conclusion", "ConclusionText")):
        for block in _xml.children(interp, section):
            for el in _xml.children(block, item):
                line = (el.text or "").strip()
                if line and line not in out:
                    out.append(line)
    return out


@register_format("cardiosoft_xml", sniff=sniff, priority=20, label="GE CardioSoft CardiologyXML")
def read(path: Path) -> Signal:
    doc, warnings = _xml.parse_xml(path, path.read_bytes())
    strip = _xml.child(doc, "StripData")
    if strip is None:  # never fall back to MedianSamples: a 1.2 s averaged beat is not the recording
        found = sorted({_xml.local(c.tag) for c in doc if _xml.local(c.tag) in ("MedianSamples", "FullDisclosure")})
        raise ECGCorruptError(path, f"CardioSoft file has no StripData rhythm section (found {found or 'none'})")
    fs = _rate(path, strip)
    to_mv = _resolution_mv(path, strip)
    leads, rows = [], []
    for el in _xml.children(strip, "WaveformData"):
        lead = (el.get("lead") or "").strip()
        if not lead:
            raise ECGCorruptError(path, "CardioSoft WaveformData without a lead attribute")
        leads.append(lead)
        rows.append(_counts(path, el, lead))
    if not rows:
        raise ECGCorruptError(path, "CardioSoft StripData has no WaveformData")
    declared = _xml.text(strip, "ChannelSampleCountTotal")
    lengths = sorted({len(r) for r in rows})
    n = min(lengths)
    if declared:
        n = samples_to_read(path, "CardioSoft StripData", n, int(number(declared)), warnings)
    elif len(lengths) > 1:
        if n < 0.95 * max(lengths):
            raise ECGCorruptError(path, f"CardioSoft leads have different lengths {lengths}")
        warnings.append(f"CardioSoft leads differ in length {lengths}; cut to {n} samples")
    raw = np.stack([r[:n] for r in rows])
    reject_filler(raw, leads, path, fs=fs)
    device = _xml.child(doc, "ClinicalInfo", "DeviceInfo")
    meta = {
        "device": " ".join(p for p in (_xml.text(device, "Desc"), _xml.text(device, "SoftwareVer")) if p) or None,
        "acquired": _acquired(doc),
        "patient_id": _xml.text(doc, "PatientInfo", "PID"),
        "statements": _statements(doc),
    }
    return Signal(data=(raw * to_mv).astype(np.float32), fs=fs, leads=tuple(leads), meta=meta, warnings=warnings)
