"""DICOM waveform ECGs (12-lead, general and ambulatory ECG SOP classes), read with `pydicom`.

Takes the RHYTHM multiplex group (not MEDIAN BEAT; without labels, the longest group), scales raw samples by
Channel Sensitivity x Correction Factor + Baseline in the sensitivity's units, names leads from their SCP/MDC codes,
and handles Waveform Padding Value: trailing padding is cut with a warning, padding inside the record is an error.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.base.errors import ECGCorruptError, ECGValidationError
from bench.base.leads import lead_from_code
from bench.data.readers.base import parse_compact_datetime, register_format, samples_to_read, unit_scale_to_mv
from bench.base.signal import Signal
from bench.data.validate import reject_filler

_DTYPES = {(8, "SB"): "i1", (8, "UB"): "u1", (16, "SS"): "<i2", (16, "US"): "<u2", (32, "SL"): "<i4", (32, "UL"): "<u4"}


def sniff(head: bytes, path: Path) -> bool:
    return len(head) >= 132 and head[128:132] == b"DICM"


def _group(path: Path, ds):
    groups = list(ds.get("WaveformSequence") or [])
    if not groups:
        raise ECGCorruptError(path, "DICOM file has no WaveformSequence (not a waveform object)")
    labels = [str(g.get("MultiplexGroupLabel", "") or "").upper() for g in groups]
    rhythm = [g for g, lab in zip(groups, labels) if "RHYTHM" in lab]
    if rhythm:
        return rhythm[0]
    usable = [g for g, lab in zip(groups, labels) if "MEDIAN" not in lab and "BEAT" not in lab]
    if not usable:
        raise ECGCorruptError(path, f"DICOM has only beat groups {labels}, no rhythm")
    return max(usable, key=lambda g: int(g.get("NumberOfWaveformSamples", 0) or 0))


def _raw(path: Path, g, little_endian: bool, warnings: list[str]) -> np.ndarray:
    n_ch, n = int(g.NumberOfWaveformChannels), int(g.NumberOfWaveformSamples)
    key = (int(g.WaveformBitsAllocated), str(g.WaveformSampleInterpretation))
    if key not in _DTYPES:
        raise ECGCorruptError(path, f"DICOM waveform sample format {key} not supported")
    dtype = np.dtype(_DTYPES[key])
    if not little_endian:  # explicit VR big endian transfer syntax
        dtype = dtype.newbyteorder(">")
    buf = bytes(g.WaveformData)
    if n <= 0 or n_ch <= 0:
        raise ECGCorruptError(path, f"DICOM multiplex group declares {n_ch} channels x {n} samples")
    n = samples_to_read(path, "DICOM waveform", len(buf) // (n_ch * dtype.itemsize), n, warnings)
    return np.frombuffer(buf[:n * n_ch * dtype.itemsize], dtype=dtype).reshape(n, n_ch).T.astype(np.int64)


def _padding(g, dtype_key) -> int | None:
    pad = g.get("WaveformPaddingValue")
    if pad is None:
        return None
    raw = bytes(pad) if not isinstance(pad, int) else int(pad).to_bytes(2, "little", signed=pad < 0)
    dt = _DTYPES.get(dtype_key)
    if dt is None or len(raw) < np.dtype(dt).itemsize:
        return None
    return int(np.frombuffer(raw[: np.dtype(dt).itemsize], dtype=dt)[0])


@register_format("dicom", sniff=sniff, priority=20, label="DICOM 12-lead ECG waveform")
def read(path: Path) -> Signal:
    import pydicom

    ds = pydicom.dcmread(str(path))
    g = _group(path, ds)
    fs = g.get("SamplingFrequency")
    if fs is None or float(fs) <= 0:
        raise ECGValidationError(path, "DICOM multiplex group has no SamplingFrequency", check="missing_rate")
    syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    warnings: list[str] = []
    x = _raw(path, g, little_endian=syntax != "1.2.840.10008.1.2.2", warnings=warnings)
    channels = list(g.get("ChannelDefinitionSequence") or [])
    if len(channels) != x.shape[0]:
        raise ECGCorruptError(path, f"DICOM has {x.shape[0]} channels but {len(channels)} channel definitions")
    leads = []
    for ch in channels:
        src = (ch.get("ChannelSourceSequence") or [None])[0]
        leads.append(lead_from_code(src.get("CodeValue") if src else None, src.get("CodeMeaning") if src else None))
    pad = _padding(g, (int(g.WaveformBitsAllocated), str(g.WaveformSampleInterpretation)))
    if pad is not None:
        is_pad = (x == pad).all(axis=0)
        keep = np.flatnonzero(~is_pad)
        if keep.size == 0:
            raise ECGValidationError(path, f"DICOM waveform is all padding value {pad}", check="filler")
        end = int(keep[-1]) + 1
        if end < x.shape[1]:
            warnings.append(f"cut {x.shape[1] - end} trailing padding samples ({pad})")
            x = x[:, :end]
    reject_filler(x, leads, path, fs=float(fs), declared=() if pad is None else (pad,))
    rows = []
    for lead, ch, raw in zip(leads, channels, x):
        units = (ch.get("ChannelSensitivityUnitsSequence") or [None])[0]
        unit = units.get("CodeValue") if units is not None else None
        to_mv = unit_scale_to_mv(unit, default=None if unit else 1e-3)  # no unit: DICOM ECGs are in uV
        if to_mv is None:
            raise ECGValidationError(path, f"DICOM lead {lead}: unknown sensitivity units {unit!r}", check="units")
        sens = float(ch.get("ChannelSensitivity", 1.0) or 1.0)
        corr = float(ch.get("ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
        base = float(ch.get("ChannelBaseline", 0.0) or 0.0)
        rows.append((raw * sens * corr + base) * to_mv)
    statements = []
    for a in ds.get("WaveformAnnotationSequence", []):
        coded = (a.get("ConceptCodeSequence") or [None])[0]  # coded statements carry their meaning here
        text = a.get("UnformattedTextValue") or (coded.get("CodeMeaning") if coded is not None else None)
        if text and str(text) not in statements:
            statements.append(str(text))
    acquired = parse_compact_datetime(str(ds.get("AcquisitionDateTime", "") or ""))
    for date, time in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime"),
                       ("StudyDate", "StudyTime")):
        if acquired is None and ds.get(date):
            acquired = parse_compact_datetime(f"{ds.get(date)}{ds.get(time, '') or ''}")
    meta = {
        "device": " ".join(str(v) for v in (ds.get("Manufacturer"), ds.get("ManufacturerModelName")) if v) or None,
        "acquired": acquired,
        "patient_id": str(ds.get("PatientID")) if ds.get("PatientID") else None,
        "statements": statements,
        "multiplex_group": str(g.get("MultiplexGroupLabel", "") or ""),
    }
    return Signal(data=np.stack(rows).astype(np.float32), fs=float(fs), leads=tuple(leads), meta=meta,
                  warnings=warnings)
