"""GE MUSE RestingECG XML: base64 little-endian int16 samples x LeadAmplitudeUnitsPerBit, Rhythm waveform section.

No maintained Python package reads MUSE XML, so this is hand-written on `defusedxml`. What varies between MUSE
versions and is handled here: 8 stored leads (III, aVR, aVL, aVF derived later) or all 12; 250 or 500 Hz
(`SampleBase` x 10^`SampleExponent`); a Median beat section before or after the Rhythm section (the Rhythm one is
read); units in microvolts (usual) or millivolts; statements as `StmtText` (MUSE 8/9) or `LeftStatement`/
`RightStatement` (older); ISO-8859-1, UTF-8 or UTF-16 bytes whatever the declaration says.
"""
from __future__ import annotations

import base64
import binascii
from pathlib import Path

import numpy as np

from bench.base.errors import ECGCorruptError, ECGValidationError
from bench.data.readers import _xml
from bench.data.readers.base import (
    number, parse_datetime, register_format, samples_to_read, unit_scale_to_mv, xml_root_name,
)
from bench.base.signal import Signal
from bench.data.validate import reject_filler



def sniff(head: bytes, path: Path) -> bool:
    return xml_root_name(head) == "RestingECG"


def _rate(wave, doc) -> float | None:
    base = _xml.text(wave, "SampleBase") or _xml.text(doc, "RestingECGMeasurements", "ECGSampleBase")
    exp = _xml.text(wave, "SampleExponent") or "0"
    if base is None:
        return None
    return number(base) * 10.0 ** int(number(exp))


def _decode_lead(path: Path, lead_el, lead: str, warnings: list[str]) -> np.ndarray:
    payload = _xml.text(lead_el, "WaveFormData")
    if payload is None:
        raise ECGCorruptError(path, f"MUSE lead {lead}: no WaveFormData")
    try:
        raw = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ECGCorruptError(path, f"MUSE lead {lead}: bad base64 ({e})") from e
    size = int(_xml.text(lead_el, "LeadSampleSize") or 2)
    if size != 2:
        raise ECGCorruptError(path, f"MUSE lead {lead}: unsupported sample size {size} bytes")
    if len(raw) % 2:
        raise ECGCorruptError(path, f"MUSE lead {lead}: odd byte count {len(raw)} for int16 samples")
    x = np.frombuffer(raw, dtype="<i2")
    count, nbytes = _xml.text(lead_el, "LeadSampleCountTotal"), _xml.text(lead_el, "LeadByteCountTotal")
    declared = int(number(count)) if count else (int(number(nbytes)) // 2 if nbytes else None)
    # trailing bytes past the declared count are padding
    return x[:samples_to_read(path, f"MUSE lead {lead}", len(x), declared, warnings)]


def _statements(doc, section: str) -> list[str]:
    diag = _xml.child(doc, section)
    if diag is None:
        return []
    out = []
    for stmt in _xml.children(diag, "DiagnosisStatement"):
        parts = [_xml.text(stmt, name) for name in ("StmtText", "LeftStatement", "RightStatement")]
        line = " ".join(p for p in parts if p)
        if line:
            out.append(line)
    return out


@register_format("muse_xml", sniff=sniff, priority=20, label="GE MUSE RestingECG XML")
def read(path: Path) -> Signal:
    doc, warnings = _xml.parse_xml(path, path.read_bytes())
    waves = list(_xml.children(doc, "Waveform"))
    rhythm = [w for w in waves if (_xml.text(w, "WaveformType") or "").lower() == "rhythm"]
    if not rhythm:
        kinds = [_xml.text(w, "WaveformType") for w in waves]
        raise ECGCorruptError(path, f"MUSE file has no Rhythm waveform section (found {kinds or 'none'})")
    wave = rhythm[0]
    fs = _rate(wave, doc)
    if fs is None:
        raise ECGValidationError(path, "MUSE Rhythm waveform has no SampleBase", check="missing_rate")
    leads, rows, raws = [], [], []
    for lead_el in _xml.children(wave, "LeadData"):
        lead = _xml.text(lead_el, "LeadID")
        if lead is None:
            raise ECGCorruptError(path, "MUSE LeadData without LeadID")
        raw = _decode_lead(path, lead_el, lead, warnings)
        per_bit = number(_xml.text(lead_el, "LeadAmplitudeUnitsPerBit") or 4.88)
        unit = _xml.text(lead_el, "LeadAmplitudeUnits") or "MICROVOLTS"
        to_mv = unit_scale_to_mv(unit)
        if to_mv is None:
            raise ECGValidationError(path, f"MUSE lead {lead}: unknown amplitude units {unit!r}", check="units")
        leads.append(lead)
        raws.append(raw)
        rows.append(raw.astype(np.float64) * per_bit * to_mv)
    if not rows:
        raise ECGCorruptError(path, "MUSE Rhythm waveform has no LeadData")
    lengths = {len(r) for r in rows}
    if len(lengths) > 1:
        n = min(lengths)
        if n < 0.95 * max(lengths):
            raise ECGCorruptError(path, f"MUSE leads have different lengths {sorted(lengths)}")
        warnings.append(f"MUSE leads differ in length {sorted(lengths)}; cut to {n} samples")
        rows, raws = [r[:n] for r in rows], [r[:n] for r in raws]
    reject_filler(np.stack(raws), leads, path, fs=fs)
    date = _xml.text(doc, "TestDemographics", "AcquisitionDate")
    time = _xml.text(doc, "TestDemographics", "AcquisitionTime") or "00:00:00"
    formats = tuple(f"{d} {t}" for d in ("%m-%d-%Y", "%m/%d/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y")
                    for t in ("%H:%M:%S", "%H:%M"))
    acquired = parse_datetime(f"{date} {time}", formats) if date else None
    meta = {
        "device": _xml.text(doc, "TestDemographics", "AcquisitionDevice"),
        "acquired": acquired,
        "patient_id": _xml.text(doc, "PatientDemographics", "PatientID"),
        "statements": _statements(doc, "Diagnosis") or _statements(doc, "OriginalDiagnosis"),
        "original_statements": _statements(doc, "OriginalDiagnosis"),
        "muse_version": _xml.text(doc, "MuseInfo", "MuseVersion"),
        "age": _xml.text(doc, "PatientDemographics", "PatientAge"),
        "sex": _xml.text(doc, "PatientDemographics", "Gender"),
    }
    if acquired is None and date:
        meta["acquired_raw"] = f"{date} {time}"
    return Signal(data=np.stack(rows).astype(np.float32), fs=fs, leads=tuple(leads), meta=meta, warnings=warnings)
