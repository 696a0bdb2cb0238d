"""SCP-ECG (EN 1064 / ISO 11073-91064): sections 0-11, Huffman-coded first or second differences.

Hand-written because no maintained Python package reads SCP-ECG. Supported: default (19999) and file-defined Huffman
tables (with table switching) or no section 2 (plain int16 samples), no/first/second differences, reference-beat
subtraction (sections 4 and 5 added back at each subtraction zone) and bimodal compression (section 6 decimated
outside the protected areas of section 4, restored to the section 5 rate by `_scp_bimodal`; the flag byte is
reserved, so ignored, from SCP-ECG 3.0). Facts: patient id, device and acquisition time from section 1; statements
from sections 8 and 11.
"""
from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

import numpy as np

from bench.base.errors import ECGCorruptError, ECGFormatError, ECGValidationError
from bench.data.readers import _scp_bimodal
from bench.base.leads import SCP_LEAD_IDS
from bench.data.readers.base import register_format, samples_to_read
from bench.base.signal import Signal
from bench.data.validate import reject_filler

# default Huffman table (EN 1064 C.2.7.4): (prefix bits, total bits, switch, base value, MSB-first code)
DEFAULT_TABLE = [(1, 1, 1, 0, 0x0)] + [
    (n, n, 1, sign * v, code)
    for v, n in zip(range(1, 9), range(3, 11))
    for sign, code in ((1, (1 << n) - 4), (-1, (1 << n) - 3))
] + [(10, 18, 1, 0, 0x3FE), (10, 26, 1, 0, 0x3FF)]


def sniff(head: bytes, path: Path) -> bool:
    if len(head) < 22:
        return False
    size = struct.unpack_from("<I", head, 2)[0]
    sec_id, sec_len = struct.unpack_from("<HI", head, 8)
    return sec_id == 0 and 16 < sec_len < 4096 and (head[16:22] == b"SCPECG" or size == path.stat().st_size)


def _sections(path: Path, b: bytes) -> dict[int, bytes]:
    if len(b) < 22:
        raise ECGCorruptError(path, "SCP file shorter than its section 0 header")
    size = struct.unpack_from("<I", b, 2)[0]
    if size > len(b):
        raise ECGCorruptError(path, f"SCP record length {size} exceeds the file ({len(b)} bytes): truncated")
    _, sid, slen = struct.unpack_from("<HHI", b, 6)
    if sid != 0 or slen < 16 or 6 + slen > len(b):
        raise ECGCorruptError(path, "SCP section 0 (pointers) is damaged")
    out = {}
    for p in range(22, 6 + slen - 9, 10):
        i, length, index = struct.unpack_from("<HII", b, p)
        if length == 0 or index == 0:
            continue
        start = index - 1
        if start < 0 or start + length > len(b) or length < 16:
            raise ECGCorruptError(path, f"SCP section {i} points outside the file (index {index}, length {length})")
        out[i] = b[start:start + length]
    return out


def _tables(path: Path, s2: bytes | None) -> list[list[tuple]] | None:
    """Huffman tables of section 2; None when the file has no section 2 (samples stored as plain int16)."""
    if s2 is None:
        return None
    n_tables = struct.unpack_from("<H", s2, 16)[0]
    if n_tables == 19999:
        return [DEFAULT_TABLE]
    tables, p = [], 18
    for _ in range(n_tables):
        (n,) = struct.unpack_from("<H", s2, p)
        p += 2
        rows = []
        for _ in range(n):
            pre, tot, sw, base, code = struct.unpack_from("<BBBhI", s2, p)
            p += 9
            if not (1 <= pre <= 32 and pre <= tot <= pre + 32):
                raise ECGCorruptError(path, f"SCP Huffman code with {pre} prefix bits and {tot} total bits")
            rev = int(f"{code & ((1 << pre) - 1):0{pre}b}"[::-1], 2) if pre else 0  # stored LSB first
            rows.append((pre, tot, sw, base, rev))
        tables.append(rows)
    if not tables:
        raise ECGCorruptError(path, "SCP section 2 defines no Huffman table")
    return tables


def _decode_lead(path: Path, data: bytes, n: int, tables: list[list[tuple]] | None, lead: str,
                 exact: bool = False, warnings: list[str] | None = None) -> np.ndarray:
    """Decode `n` Huffman-coded values; bounded by n and by the bits available, so it cannot loop forever.

    `exact`: the data must end with the n-th value (up to 2 bytes of padding), as when n is derived from a layout.
    `warnings`: given, a lead holding one value fewer than `n` (section 3 counting one too many) is read as stored
    and noted there (see `samples_to_read`)."""
    if tables is None:
        if warnings is not None and len(data) < 2 * n:
            n = samples_to_read(path, f"SCP lead {lead}", len(data) // 2, n, warnings)
        if len(data) < 2 * n or (exact and len(data) > 2 * n + 2):
            raise ECGCorruptError(path, f"SCP lead {lead}: {len(data)} bytes do not hold {n} int16 samples")
        return np.frombuffer(data[: 2 * n], dtype="<i2").astype(np.int64)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).astype(np.int64)
    nbits = len(bits)
    width = 32
    padded = np.concatenate([bits, np.zeros(width, dtype=np.int64)])
    windows = np.zeros(nbits + 1, dtype=np.int64)  # next 32 bits at each position, MSB first
    for k in range(width):
        windows += padded[k:k + nbits + 1] << (width - 1 - k)
    luts = [{(pre, code): row for row in t for pre, code in [(row[0], row[4])]} for t in tables]
    lengths = [sorted({row[0] for row in t}) for t in tables]
    out = np.zeros(n, dtype=np.int64)
    pos, table, i = 0, 0, 0
    while i < n:
        if pos >= nbits:
            if warnings is not None:
                return out[:samples_to_read(path, f"SCP lead {lead}", i, n, warnings)]
            raise ECGCorruptError(path, f"SCP lead {lead}: Huffman data ends after {i} of {n} samples")
        w = int(windows[pos])
        for pre in lengths[table]:
            row = luts[table].get((pre, w >> (width - pre)))
            if row is not None:
                break
        else:
            raise ECGCorruptError(path, f"SCP lead {lead}: invalid Huffman code at bit {pos}")
        pre, tot, switch, base, _ = row
        if switch == 0:
            if not 1 <= base <= len(tables):
                raise ECGCorruptError(path, f"SCP lead {lead}: switch to missing Huffman table {base}")
            table, pos = base - 1, pos + pre
            continue
        if tot > pre:
            extra = tot - pre
            v = (int(windows[pos + pre]) >> (width - extra)) if pos + pre <= nbits else 0
            out[i] = v - (1 << extra) if v >> (extra - 1) else v
        else:
            out[i] = base
        pos += tot
        i += 1
    if exact and nbits - pos >= 16:
        raise ECGCorruptError(path, f"SCP lead {lead}: {nbits - pos} bits left after the {n} samples its bimodal "
                                    "layout implies")
    return out


def _undifference(d: np.ndarray, mode: int) -> np.ndarray:
    if mode == 0:
        return d
    if mode == 1:
        return np.cumsum(d)
    if mode == 2:  # x[n] = d[n] + 2 x[n-1] - x[n-2], x[0] = d[0], x[1] = d[1]
        x = np.empty_like(d)
        x[:2] = d[:2]
        # second differences: the first difference y[n] = x[n] - x[n-1] is a cumulative sum of d from n = 2
        if len(d) > 2:
            y = np.cumsum(np.concatenate([[d[1] - d[0]], d[2:]]))
            x[1:] = d[0] + np.cumsum(y)
        return x
    raise ValueError(f"unknown difference mode {mode}")


def _encoded_block(path: Path, sec: bytes, n_leads: int, counts_needed: list[int], tables, leads,
                   exact: bool = False, warnings: list[str] | None = None):
    if len(sec) < 22 + 2 * n_leads:
        raise ECGCorruptError(path, f"SCP section {struct.unpack_from('<H', sec, 2)[0]} is shorter than its header")
    avm, interval, diff, bimodal = struct.unpack_from("<HHBB", sec, 16)
    if diff > 2:
        raise ECGCorruptError(path, f"SCP unknown difference encoding {diff}")
    counts = struct.unpack_from(f"<{n_leads}H", sec, 22)
    p = 22 + 2 * n_leads
    rows = []
    for lead, nbytes, n in zip(leads, counts, counts_needed):
        if p + nbytes > len(sec):
            raise ECGCorruptError(path, f"SCP lead {lead}: {nbytes} bytes declared past the end of its section")
        rows.append(_undifference(_decode_lead(path, sec[p:p + nbytes], n, tables, lead, exact, warnings), diff))
        p += nbytes
    return avm, interval, bimodal, rows


def _text(b: bytes) -> str:
    return b.split(b"\x00")[0].decode("latin-1", errors="replace").strip()


def _section1(s1: bytes | None) -> dict:
    meta: dict = {"device": None, "acquired": None, "patient_id": None}
    if s1 is None:
        return meta
    p, date, time = 16, None, (0, 0, 0)
    while p + 3 <= len(s1):
        tag, length = s1[p], struct.unpack_from("<H", s1, p + 1)[0]
        val = s1[p + 3:p + 3 + length]
        p += 3 + length
        if tag == 255:
            break
        if tag == 2:
            meta["patient_id"] = _text(val) or None
        elif tag == 14 and len(val) >= 14:
            strings = [_text(x) for x in val[36:].split(b"\x00")] if len(val) > 36 else []
            model = _text(val[8:14])
            maker = strings[4] if len(strings) > 4 else ""
            meta["device"] = " ".join(x for x in (maker, model) if x) or None
        elif tag == 25 and len(val) >= 4:
            date = (struct.unpack_from("<H", val)[0], val[2], val[3])
        elif tag == 26 and len(val) >= 3:
            time = (val[0], val[1], val[2])
    if date:
        try:
            meta["acquired"] = datetime(*date, *time).isoformat()
        except ValueError:
            pass
    return meta


def _statements(sec: bytes | None, *, type_byte: bool = False) -> list[str]:
    """Statements of section 8 (text) or 11 (universal statements: a type byte, then NUL-separated texts)."""
    if sec is None or len(sec) < 25:
        return []
    out, p = [], 25
    for _ in range(sec[24]):
        if p + 3 > len(sec):
            break
        length = struct.unpack_from("<H", sec, p + 1)[0]
        text = sec[p + 3 + int(type_byte):p + 3 + length]
        parts = [t.decode("latin-1", errors="replace").strip() for t in text.replace(b"\x1e", b"\x00").split(b"\x00")]
        line = " ".join(t for t in parts if t)
        if line:
            out.append(line)
        p += 3 + length
    return out


def _subtraction_zones(path: Path, s4: bytes) -> list[tuple[int, int]]:
    """(first, last) record samples of the type-0 (reference beat) subtraction zones of section 4."""
    n_qrs = struct.unpack_from("<H", s4, 20)[0]
    if 22 + 14 * n_qrs > len(s4):
        raise ECGCorruptError(path, f"SCP section 4 declares {n_qrs} QRS zones it does not hold")
    zones = [struct.unpack_from("<HIII", s4, 22 + 14 * q) for q in range(n_qrs)]
    return [(start, end) for btype, start, _, end in zones if btype == 0]


def _add_reference_beats(path, secs, tables, leads, spans, rows, avm, interval) -> list[np.ndarray]:
    """Residual rhythm + reference beat (section 5) over each type-0 subtraction zone of section 4, in nV.

    Sample s (1-based, record time) of a zone takes reference-beat sample `fc - fiducial + s` (1-based), where fc is
    the reference beat's fiducial point; the two sections may use different amplitude multipliers."""
    s4, s5 = secs.get(4), secs.get(5)
    if s4 is None or s5 is None:
        raise ECGCorruptError(path, "SCP uses reference-beat subtraction but section 4 or 5 is missing")
    if len(s4) < 22 or len(s5) < 20:
        raise ECGCorruptError(path, "SCP section 4 or 5 is shorter than its header")
    ref_ms, fc, n_qrs = struct.unpack_from("<HHH", s4, 16)
    interval5 = struct.unpack_from("<H", s5, 18)[0]
    if interval5 != interval:
        raise ECGFormatError(path, f"SCP reference beat ({interval5} us) and rhythm ({interval} us) sample intervals "
                                   "differ without bimodal compression")
    if 22 + 14 * n_qrs > len(s4):
        raise ECGCorruptError(path, f"SCP section 4 declares {n_qrs} QRS zones it does not hold")
    n_ref = int(round(ref_ms * 1000 / interval5))
    avm5, _, _, ref = _encoded_block(path, s5, len(leads), [n_ref] * len(leads), tables, leads)
    out = []
    for (lead_start, _, _), residual, beat in zip(spans, rows, ref):
        x = residual.astype(np.float64) * avm
        b = beat.astype(np.float64) * avm5
        for q in range(n_qrs):
            btype, start, fid, end = struct.unpack_from("<HIII", s4, 22 + 14 * q)
            if btype != 0:
                continue
            first = max(start, lead_start, fid - fc + 1)
            last = min(end, lead_start + len(x) - 1, fid - fc + len(b))
            if last >= first:
                r0, m0 = first - lead_start, fc - fid + first - 1
                x[r0:r0 + last - first + 1] += b[m0:m0 + last - first + 1]
        out.append(x)
    return out


@register_format("scp", sniff=sniff, priority=20, label="SCP-ECG (EN 1064)")
def read(path: Path) -> Signal:
    b = path.read_bytes()
    secs = _sections(path, b)
    for required in (3, 6):
        if required not in secs:
            raise ECGCorruptError(path, f"SCP file has no section {required}")
    s3 = secs[3]
    n_leads, flags = s3[16], s3[17]
    if n_leads == 0 or 18 + 9 * n_leads > len(s3):
        raise ECGCorruptError(path, f"SCP section 3 declares {n_leads} leads it does not hold")
    spans = [struct.unpack_from("<IIB", s3, 18 + 9 * k) for k in range(n_leads)]
    leads = [SCP_LEAD_IDS.get(code, f"SCP lead code {code}") for _, _, code in spans]
    counts = [end - start + 1 for start, end, _ in spans]
    if min(counts) <= 0 or max(counts) > 10 * len(b) + 1000:
        raise ECGCorruptError(path, f"SCP section 3 declares implausible lead lengths {counts}")
    tables = _tables(path, secs.get(2))
    s6 = secs[6]
    warnings: list[str] = []
    if len(s6) < 22:
        raise ECGCorruptError(path, "SCP section 6 is shorter than its header")
    if s6[21] and s6[8] < 30:  # bimodal compression; a reserved byte from SCP-ECG 3.0
        factor, full, pieces, stored = _scp_bimodal.layout(path, secs, spans, struct.unpack_from("<H", s6, 18)[0])
        avm, _, _, rows = _encoded_block(path, s6, n_leads, stored, tables, leads, exact=True)
        for lead, r in zip(leads, rows):
            reject_filler(r[None, :], [lead], path, fs=1e6 / full)
        zones = _subtraction_zones(path, secs[4]) if flags & 1 else []
        rows = [_scp_bimodal.expand(r, lp, factor) for r, lp in zip(rows, pieces)]
        if factor > 1:
            rows = [_scp_bimodal.smooth(r, lp, zones) for r, lp in zip(rows, pieces)]
        interval = full
    else:
        avm, interval, _, rows = _encoded_block(path, s6, n_leads, counts, tables, leads, warnings=warnings)
        if interval == 0:
            raise ECGValidationError(path, "SCP section 6 has no sample interval", check="missing_rate")
        n_stored = min(len(r) for r in rows)
        reject_filler(np.stack([r[:n_stored] for r in rows]), leads, path, fs=1e6 / interval)
    if flags & 1:
        rows = _add_reference_beats(path, secs, tables, leads, spans, rows, avm, interval)
    else:
        rows = [r.astype(np.float64) * avm for r in rows]
    n = min([*counts, *(len(r) for r in rows)])
    data = np.stack([r[:n] for r in rows]) * 1e-6  # nV -> mV
    meta = _section1(secs.get(1))
    meta["statements"] = _statements(secs.get(8)) + _statements(secs.get(11), type_byte=True)
    return Signal(data=data.astype(np.float32), fs=1e6 / interval, leads=tuple(leads), meta=meta, warnings=warnings)
