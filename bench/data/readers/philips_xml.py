"""Philips Sierra ECG XML (1.03, 1.04, 1.04.01/02): base64 waveforms, XLI-compressed or raw int16, x resolution uV.

The XLI (LZW + second-difference) decoding is the `sierraecg` package's, and the samples decoded are exactly
`sierraecg.read_file`'s (tested on the fixtures): every sample of each lead's stream, `durationperchannel` x rate of
them (11 s on a PageWriter). Its `read_file` is not called because it parses with the declared encoding (exports
exist whose declaration lies about the bytes), so the XML is parsed here with `bench.data.readers._xml`. Philips
stores III, aVR, aVL and aVF as residuals from the values predicted by I and II; they are rebuilt as `sierraecg` does,
but only when that makes the limb leads agree with Einthoven's law better than the stored values do (files whose
limb leads are stored plain exist too). A PageWriter ends its 11 s with a square 1 mV calibration pulse identical in
every lead (about 0.4 s, after 10.5-10.6 s of ECG); `read_ecg` keeps all 11 s (as `sierraecg` does) and marks the
pulse with a warning (`bench.data.validate.mark_calibration`); `standardise` leaves it out, since it is no ECG.
"""
from __future__ import annotations

import base64
import binascii
from pathlib import Path

import numpy as np

from bench.base.errors import ECGCorruptError, ECGValidationError
from bench.data.readers import _xml
from bench.data.readers.base import number, parse_datetime, register_format, samples_to_read, xml_root_name
from bench.base.signal import Signal
from bench.data.validate import reject_filler

STD12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def sniff(head: bytes, path: Path) -> bool:
    return xml_root_name(head) == "restingecgdata"


def _attr(el, *names, default=None):
    for n in names:
        if el is not None and el.get(n) not in (None, ""):
            return el.get(n)
    return default


def _rebuild_limb_leads(x: np.ndarray) -> np.ndarray:
    """III, aVR, aVL, aVF from Philips residuals (same arithmetic as `sierraecg.read_file`)."""
    y = x.astype(np.int64)
    i, ii = y[0], y[1]
    y[2] = ii - i - y[2]
    y[3] = -y[3] - np.floor_divide(i + ii, 2)
    y[4] = np.floor_divide(i - y[2], 2) - y[4]
    y[5] = np.floor_divide(ii + y[2], 2) - y[5]
    return y


def _einthoven(y: np.ndarray) -> float:
    r = y[0].astype(np.float64) + y[2] - y[1]
    return float(np.sqrt(np.mean(r * r)) / max(np.sqrt(np.mean(y[1].astype(np.float64) ** 2)), 1.0))


def _xli_decode(path: Path, data: bytes, n_leads: int, n: int) -> list[np.ndarray]:
    """XLI chunks -> one int array per lead, exactly as `sierraecg.xli.xli_decode` (same LZW and delta decoders, the
    whole stream of each chunk, an odd byte count padded with 0), but bounded: each chunk header is checked against
    the payload and each LZW stream is read for at most twice the declared samples (a damaged stream can otherwise
    expand quadratically or walk backwards forever)."""
    from sierraecg.lzw import LzwDecoder
    from sierraecg.xli import xli_decode_deltas

    leads, offset, cap = [], 0, 4 * n + 2
    while offset < len(data) and len(leads) < n_leads:
        if offset + 8 > len(data):
            raise ECGCorruptError(path, f"Philips XLI chunk header cut at byte {offset}")
        size = int.from_bytes(data[offset:offset + 4], "little", signed=True)
        start = int.from_bytes(data[offset + 6:offset + 8], "little", signed=True)
        if size <= 0 or offset + 8 + size > len(data):
            raise ECGCorruptError(path, f"Philips XLI chunk {len(leads)} declares {size} bytes past the payload")
        decoder = LzwDecoder(data[offset + 8:offset + 8 + size], bits=10)
        buf = []
        while len(buf) <= cap and (b := decoder.read()) != -1:
            buf.append(b & 0xFF)
        if len(buf) > cap:
            raise ECGCorruptError(path, f"Philips XLI lead {len(leads)} expands past twice the {n} declared samples")
        if len(buf) % 2:
            buf.append(0)
        leads.append(np.asarray(xli_decode_deltas(buf, start), dtype=np.int64) if len(buf) >= 4
                     else np.zeros(len(buf) // 2, dtype=np.int64))
        offset += 8 + size
    return leads


def _decode(path: Path, wf, labels: list[str], n: int, warnings: list[str]) -> np.ndarray:
    """(leads, samples) stored integers. `n` is the count `durationperchannel` declares: leads holding more are cut to
    it, one sample fewer is read as stored (see `samples_to_read`)."""
    encoding = _attr(wf, "dataencoding", default="Base64")
    if encoding.lower() != "base64":
        raise ECGCorruptError(path, f"Philips waveform encoding {encoding!r} not supported")
    try:
        raw = base64.b64decode("".join((wf.text or "").split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ECGCorruptError(path, f"Philips parsedwaveforms: bad base64 ({e})") from e
    method = _attr(wf, "compressmethod", "compression", default="Uncompressed")
    if method.upper() == "XLI":
        chunks = _xli_decode(path, raw, len(labels), n)
        if len(chunks) < len(labels):
            raise ECGCorruptError(path, f"Philips XLI data holds {len(chunks)} leads, expected {len(labels)}")
        stored = min(len(c) for c in chunks)
        m = samples_to_read(path, f"Philips XLI leads holding {sorted({len(c) for c in chunks})} samples",
                            stored, n, warnings)
        return np.stack([c[:m] for c in chunks])
    if method.lower() not in ("uncompressed", "none", ""):
        raise ECGCorruptError(path, f"Philips compression {method!r} not supported")
    m = samples_to_read(path, "Philips uncompressed waveform", len(raw) // (2 * len(labels)), n, warnings)
    if m == 0:
        raise ECGCorruptError(path, f"Philips waveform holds {len(raw)} bytes, expected {2 * n * len(labels)}")
    # leads are stored one after the other, each `m` samples long (sierraecg's split_leads)
    return np.frombuffer(raw[: 2 * m * len(labels)], dtype="<i2").reshape(len(labels), m)


def _labels(wf, chars) -> list[str]:
    text = _attr(wf, "leadlabels")
    count = int(_attr(wf, "numberofleads", default=0) or 0)
    if text:
        labels = text.split()
        return labels[:count] if count else labels
    count = count or int(_xml.text(chars, "numberchannelsallocated") or 12)
    # unlabelled channels past the standard twelve are extra leads (dropped by lead normalisation)
    return list(STD12[:count]) + [f"Channel {k}" for k in range(13, count + 1)]


def _statements(doc) -> list[str]:
    out = []
    for interp in _xml.descendants(doc, "interpretation"):
        for st in _xml.children(interp, "statement"):
            line = " ".join(t for t in (_xml.text(st, "leftstatement"), _xml.text(st, "rightstatement")) if t)
            if line:
                out.append(line)
        sev = _xml.text(interp, "severity")
        if sev:
            out.append(sev)
        if out:
            break  # the first (most recent) interpretation
    return out


@register_format("philips_xml", sniff=sniff, priority=20, label="Philips Sierra ECG XML")
def read(path: Path) -> Signal:
    doc, warnings = _xml.parse_xml(path, path.read_bytes())
    acq = _xml.child(doc, "dataacquisition")
    chars = _xml.child(acq, "signalcharacteristics")
    wf = next(_xml.descendants(doc, "parsedwaveforms"), None)
    if wf is None:
        raise ECGCorruptError(path, "Philips file has no parsedwaveforms")
    fs_text = _attr(wf, "samplespersecond") or _xml.text(chars, "samplingrate")
    if not fs_text:
        raise ECGValidationError(path, "Philips file has no sampling rate", check="missing_rate")
    fs = number(fs_text)
    duration_ms = number(_attr(wf, "durationperchannel", default=0) or 0)
    if duration_ms <= 0:
        raise ECGCorruptError(path, "Philips parsedwaveforms has no durationperchannel")
    n = int(round(duration_ms * fs / 1000.0))
    labels = _labels(wf, chars)
    x = _decode(path, wf, labels, n, warnings)
    meta_extra = {}
    if tuple(labels[:6]) == STD12[:6]:
        rebuilt = _rebuild_limb_leads(x)
        if _einthoven(rebuilt) < _einthoven(x):
            x = rebuilt
            meta_extra["limb_leads"] = "rebuilt from Philips residuals"
    x = np.asarray(x, dtype=np.int64)
    reject_filler(x, labels, path, fs=fs)
    resolution = number(_attr(wf, "resolution") or _xml.text(chars, "resolution")  # uV per LSB (1.04 / 1.03)
                       or _xml.text(chars, "signalresolution") or 5.0)
    offset = number(_attr(wf, "signaloffset", default=0) or 0)
    data = ((x - offset) * resolution * 1e-3).astype(np.float32)
    date = _attr(acq, "date") or _xml.text(acq, "acquisitiondate")
    time = _attr(acq, "time") or _xml.text(acq, "acquisitiontime") or "00:00:00"
    machine = _xml.child(acq, "machine")
    meta = {
        "device": (machine.text or "").strip() or _attr(machine, "detaildescription") if machine is not None else None,
        "acquired": parse_datetime(f"{date} {time}", ("%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S"))
        if date else None,
        "patient_id": _xml.text(doc, "patient", "generalpatientdata", "patientid"),
        "statements": _statements(doc),
        "philips_version": _xml.text(doc, "documentinfo", "documentversion"),
        **meta_extra,
    }
    return Signal(data=data, fs=fs, leads=tuple(labels), meta=meta, warnings=warnings)
