"""HL7 v3 annotated ECG (FDA aECG): samples = origin + scale x digits, from the RHYTHM series.

Hand-written on `defusedxml`: the one Python aECG package (FDA `aecg`) pulls in lxml and pandas, parses without
entity protection and is not maintained on PyPI. Writers differ, so this handles: the RHYTHM series chosen over
`derivedSeries` (REPRESENTATIVE_BEAT); several sequenceSets (consecutive time segments are concatenated, lead groups
recorded side by side are merged); time as GLIST_TS or GLIST_PQ with the increment in s or ms; SLIST_PQ (origin,
scale, digits; uV or mV) and SLIST_INT values; statements from MDC_ECG_RHY / MDC_ECG_INTERPRETATION annotations.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bench.base.errors import ECGCorruptError, ECGValidationError
from bench.data.readers import _xml
from bench.data.readers.base import number, parse_compact_datetime, register_format, unit_scale_to_mv, xml_root_name
from bench.base.signal import Signal
from bench.data.validate import reject_filler



def sniff(head: bytes, path: Path) -> bool:
    return xml_root_name(head) == "AnnotatedECG"


def _code(el) -> str:
    c = _xml.child(el, "code")
    return (c.get("code") or "") if c is not None else ""


def _seconds(el) -> float | None:
    """A PQ-like element (value + unit) in seconds."""
    if el is None or el.get("value") is None:
        return None
    unit = (el.get("unit") or "s").lower()
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0}.get(unit)
    if scale is None:
        raise ValueError(f"unknown time unit {unit!r}")
    return number(el.get("value")) * scale


def _ts_number(value: str) -> float:
    """Sortable number of an HL7 TS ('20021122091000.000-0500'): the digits before any time-zone offset."""
    m = re.match(r"\s*(\d+(?:\.\d+)?)", value)
    return float(m.group(1)) if m else 0.0


def _lead_values(path: Path, seq, lead: str) -> tuple[np.ndarray, np.ndarray]:
    """(digits as stored, mV) of one lead sequence."""
    val = _xml.child(seq, "value")
    digits = _xml.text(val, "digits")
    if digits is None:
        raise ECGCorruptError(path, f"aECG lead {lead}: no digits")
    try:
        x = np.array(digits.split(), dtype=np.float64)
    except ValueError as e:
        raise ECGCorruptError(path, f"aECG lead {lead}: non-numeric digits ({e})") from e
    origin, scale = _xml.child(val, "origin"), _xml.child(val, "scale")
    s = number(scale.get("value")) if scale is not None else 1.0
    o = number(origin.get("value")) if origin is not None else 0.0
    s_unit = unit_scale_to_mv(scale.get("unit") if scale is not None else None, default=None)
    o_unit = unit_scale_to_mv(origin.get("unit") if origin is not None else None, default=s_unit)
    if s_unit is None:
        raise ECGValidationError(path, f"aECG lead {lead}: scale has no voltage unit", check="units")
    return x, o * (o_unit or s_unit) + s * s_unit * x


def _sequence_set(path: Path, sset) -> tuple[float | None, float | None, dict[str, np.ndarray]]:
    """(start s, sample period s, lead -> mV) of one sequenceSet."""
    start = period = None
    leads: dict[str, np.ndarray] = {}
    digits: dict[str, np.ndarray] = {}
    for comp in _xml.children(sset, "component"):
        seq = _xml.child(comp, "sequence")
        if seq is None:
            continue
        code = _code(seq)
        val = _xml.child(seq, "value")
        if code.startswith("TIME_"):
            head = _xml.child(val, "head")
            inc = _xml.child(val, "increment")
            period = _seconds(inc)
            if head is not None and head.get("value"):
                start = _seconds(head) if head.get("unit") else _ts_number(head.get("value"))
        else:
            if code in leads:
                raise ECGCorruptError(path, f"aECG lead {code} appears twice in one sequenceSet")
            digits[code], leads[code] = _lead_values(path, seq, code)
    if period and period > 0:  # without a period the set is refused in _combine
        for code, d in digits.items():
            reject_filler(d[None, :], [code], path, fs=1.0 / period)
    return start, period, leads


def _combine(path: Path, sets) -> tuple[float, dict[str, np.ndarray]]:
    periods = {p for _, p, _ in sets if p}
    if not periods:
        raise ECGValidationError(path, "aECG RHYTHM series has no time increment", check="missing_rate")
    if max(periods) - min(periods) > 1e-9:
        raise ECGCorruptError(path, f"aECG sequenceSets disagree on the sample period {sorted(periods)}")
    period = periods.pop()
    if period <= 0:
        raise ECGValidationError(path, f"aECG sample period {period} s", check="missing_rate")
    lead_sets = [frozenset(leads) for _, _, leads in sets]
    merged: dict[str, list[np.ndarray]] = {}
    if len(set(lead_sets)) == 1:  # consecutive segments of the same leads
        for _, _, leads in sorted(sets, key=lambda s: s[0] or 0.0):
            for k, v in leads.items():
                merged.setdefault(k, []).append(v)
    else:  # lead groups side by side (each set its own leads)
        for _, _, leads in sets:
            for k, v in leads.items():
                if k in merged:
                    raise ECGCorruptError(path, f"aECG lead {k} in more than one lead group")
                merged[k] = [v]
    return 1.0 / period, {k: np.concatenate(v) for k, v in merged.items()}


def _statements(doc) -> list[str]:
    out = []
    for ann in _xml.descendants(doc, "annotation"):
        code = _code(ann)
        if not (code.startswith("MDC_ECG_INTERPRETATION") or code == "MDC_ECG_RHY"):
            continue
        val = _xml.child(ann, "value")
        if val is None:
            continue
        text = (val.text or "").strip() or val.get("displayName") or val.get("code")
        if text and text not in out:
            out.append(text)
    return out


@register_format("hl7_aecg", sniff=sniff, priority=20, label="HL7 v3 annotated ECG (aECG)")
def read(path: Path) -> Signal:
    doc, warnings = _xml.parse_xml(path, path.read_bytes())
    series = list(_xml.descendants(doc, "series"))
    rhythm = [s for s in series if _code(s) == "RHYTHM"] or [s for s in series if not _code(s)]
    if not rhythm:
        raise ECGCorruptError(path, f"aECG has no RHYTHM series (found {[_code(s) for s in series] or 'none'})")
    ser = rhythm[0]
    # only the series' own sequenceSets: the derivedSeries (representative beat) nests below `derivation`
    own = [_xml.child(c, "sequenceSet") for c in _xml.children(ser, "component")]
    sets = [_sequence_set(path, s) for s in own if s is not None]
    sets = [s for s in sets if s[2]]
    if not sets:
        raise ECGCorruptError(path, "aECG RHYTHM series has no lead sequences")
    fs, leads = _combine(path, sets)
    lengths = {len(v) for v in leads.values()}
    if len(lengths) > 1:
        raise ECGCorruptError(path, f"aECG leads have different lengths {sorted(lengths)}")
    author = _xml.child(ser, "author", "seriesAuthor")
    model = _xml.text(author, "manufacturedSeriesDevice", "manufacturerModelName") or next(
        (e.text.strip() for e in _xml.descendants(ser, "manufacturerModelName") if e.text), None)
    maker = next((_xml.text(org, "name") for org in _xml.descendants(ser, "manufacturerOrganization")), None)
    low = _xml.child(ser, "effectiveTime", "low")
    subject = next(_xml.descendants(doc, "trialSubject"), None)
    sid = _xml.child(subject, "id") if subject is not None else None
    meta = {
        "device": " ".join(p for p in (maker, model) if p) or None,
        "acquired": parse_compact_datetime(low.get("value") if low is not None else None),
        "patient_id": (sid.get("extension") or sid.get("root")) if sid is not None else None,
        "statements": _statements(doc),
    }
    names = list(leads)
    data = np.stack([leads[k] for k in names]).astype(np.float32)
    return Signal(data=data, fs=round(fs, 6), leads=tuple(names), meta=meta, warnings=warnings)
