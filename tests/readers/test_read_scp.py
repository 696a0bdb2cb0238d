"""SCP-ECG features that the fixture does not use, checked by writing a real recording into SCP files.

The rhythm is the real aECG/SCP example recording (2.5 uV steps). A small EN 1064 writer below encodes it with
file-defined Huffman tables (codes stored bit-reversed), first differences, no Huffman section at all, and
reference-beat subtraction (sections 4 and 5, with a different amplitude multiplier for the beat); each must decode
back to the same samples exactly. It also writes statements (section 8) and patient/device/time tags (section 1).

Bimodal compression: the fixture's own reference beat (section 5, kept byte for byte) is subtracted at each QRS,
and the residual is stored at full rate inside protected areas around each QRS and as block means of 2 or 4 samples
elsewhere (section 6 at 250 or 125 Hz, bimodal flag set). The protected areas must decode exactly, the rest closely;
malformed bimodal layouts must raise the reader's own errors.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest
from scipy.signal import find_peaks

from bench.base.errors import ECGCorruptError
from bench.data.readers import read_ecg, scp_ecg
from bench.data.readers.scp_ecg import DEFAULT_TABLE

LEAD_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 61, 62, 63, 64)  # I II V1..V6 III aVR aVL aVF


def _section(sid: int, body: bytes) -> bytes:
    if len(body) % 2:
        body += b"\x00"
    return struct.pack("<HHIBB", 0, sid, 16 + len(body), 20, 20) + b"SCPECG" + body


def _record(sections: dict[int, bytes]) -> bytes:
    order = sorted(sections)
    offset = 6 + 16 + 12 * 10 + 1  # 1-based index of the first section after section 0
    pointers, blobs = b"", b""
    for sid in range(12):
        if sid == 0:
            pointers += struct.pack("<HII", 0, 136, 7)
        elif sid in sections:
            blob = _section(sid, sections[sid])
            pointers += struct.pack("<HII", sid, len(blob), offset + len(blobs))
            blobs += blob
        else:
            pointers += struct.pack("<HII", sid, 0, 0)
    assert order[0] != 0
    body = _section(0, pointers) + blobs
    return struct.pack("<HI", 0, 6 + len(body)) + body


def _bits_to_bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def _encode(values, table) -> bytes:
    """Huffman-encode ints with a table of (prefix, total, switch, base, MSB-first code)."""
    exact = {base: (pre, code) for pre, tot, _, base, code in table if tot == pre}
    literal = sorted((tot - pre, pre, code) for pre, tot, _, _, code in table if tot > pre)
    out = []
    for v in values:
        v = int(v)
        if v in exact:
            pre, code = exact[v]
            out.append(f"{code:0{pre}b}")
            continue
        for extra, pre, code in literal:
            if -(1 << (extra - 1)) <= v < (1 << (extra - 1)):
                out.append(f"{code:0{pre}b}" + f"{v & ((1 << extra) - 1):0{extra}b}")
                break
        else:
            raise ValueError(v)
    return _bits_to_bytes("".join(out))


def _differences(x: np.ndarray, mode: int) -> np.ndarray:
    if mode == 1:
        return np.diff(x, prepend=0)
    if mode == 2:
        d = x.copy()
        d[2:] = x[2:] - 2 * x[1:-1] + x[:-2]
        return d
    return x


def _data_section(rows, avm, interval, mode, table, flag=0) -> bytes:
    blocks = [(_encode(_differences(r, mode), table) if table is not None else r.astype("<i2").tobytes())
              for r in rows]
    head = struct.pack("<HHBB", avm, interval, mode, flag) + struct.pack(f"<{len(rows)}H", *map(len, blocks))
    return head + b"".join(blocks)


def _lead_section(n: int, rbs: bool) -> bytes:
    body = struct.pack("<BB", 12, (12 << 3) | 0x04 | int(rbs))
    return body + b"".join(struct.pack("<IIB", 1, n, code) for code in LEAD_IDS)


def _tags() -> bytes:
    tags = [(2, b"PAT-42\x00"), (25, struct.pack("<HBB", 2019, 3, 14)), (26, bytes([15, 9, 26])), (255, b"")]
    return b"".join(struct.pack("<BH", t, len(v)) + v for t, v in tags)


def _statements() -> bytes:
    texts = [b"Atrial fibrillation\x00", b"Left axis deviation\x00"]
    body = struct.pack("<B", 0) + struct.pack("<HBB", 2019, 3, 14) + bytes([15, 9, 26]) + bytes([len(texts)])
    return body + b"".join(struct.pack("<BH", i + 1, len(t)) + t for i, t in enumerate(texts))


def _one_peak_per_beat(x, height, distance=150):
    """One sample per beat: local maxima above `height`, at least `distance` samples (300 ms at 500 Hz) apart.

    scipy's find_peaks keeps one sample of a flat top (its middle), so a maximum held for two samples (a tie that
    appears or not with the rounding of one CPU or another) gives one peak, never two. The spacing is enforced here,
    highest first and the earlier of two equal peaks first (a stable order): find_peaks' own `distance` orders equal
    heights with numpy's default sort, whose order of ties is not promised."""
    peaks, props = find_peaks(x, height=height)
    kept = []
    for k in np.lexsort((peaks, -props["peak_heights"])):
        if all(abs(peaks[k] - q) >= distance for q in kept):
            kept.append(int(peaks[k]))
    return sorted(kept)


CUSTOM = [(1, 1, 1, 0, 0b0), (2, 2, 1, 1, 0b10), (3, 3, 1, -1, 0b110), (3, 19, 1, 0, 0b111)]


def _table_section(table) -> bytes:
    body = struct.pack("<HH", 1, len(table))
    for pre, tot, switch, base, code in table:
        stored = int(f"{code:0{pre}b}"[::-1], 2)  # EN 1064 stores codes least significant bit first
        body += struct.pack("<BBBhI", pre, tot, switch, base, stored)
    return body


@pytest.fixture(scope="module")
def digits(shared_data):
    """The example recording in 2.5 uV steps, leads in SCP order, from the decoded fixture."""
    sig = read_ecg(shared_data / "formats/scp/Example.scp")
    return np.round(sig.data.astype(np.float64) / 0.0025).astype(np.int64)


@pytest.mark.parametrize("mode, table", [(1, CUSTOM), (2, DEFAULT_TABLE), (0, None)],
                         ids=["first-diff-custom-table", "second-diff-default", "no-huffman"])
def test_encodings_round_trip(tmp_path, digits, mode, table):
    sections = {1: _tags(), 3: _lead_section(digits.shape[1], False),
                6: _data_section(digits, 2500, 2000, mode, table), 8: _statements()}
    if table is CUSTOM:
        sections[2] = _table_section(CUSTOM)
    elif table is not None:
        sections[2] = struct.pack("<H", 19999)
    path = tmp_path / "ecg.scp"
    path.write_bytes(_record(sections))
    sig = read_ecg(path)
    np.testing.assert_array_equal(np.round(sig.data / 0.0025).astype(np.int64), digits)
    assert sig.fs == 500 and sig.meta["patient_id"] == "PAT-42"
    assert sig.meta["acquired"] == "2019-03-14T15:09:26"
    assert sig.meta["statements"] == ["Atrial fibrillation", "Left axis deviation"]


def test_reference_beat_subtraction(tmp_path, digits):
    """Residual = rhythm - reference beat inside each QRS zone; the beat is stored at a coarser AVM (5 uV)."""
    half = 60
    lead_ii = digits[1]
    peaks = [p for p in _one_peak_per_beat(lead_ii, np.percentile(lead_ii, 99)) if half <= p < len(lead_ii) - half]
    assert len(peaks) >= 8
    ref_len, fc = 300, 150  # 600 ms beat, fiducial at its sample 150 (1-based)
    beat = np.stack([np.round(np.median([row[p - fc + 1:p - fc + 1 + ref_len] for p in peaks[1:-1]], axis=0) / 2)
                     for row in digits]).astype(np.int64)  # in 5 uV steps
    residual = digits.copy()
    zones = []
    for p in peaks:
        fid = p + 1  # 1-based
        start, end = max(1, fid - 40), min(digits.shape[1], fid + 60)
        zones.append((0, start, fid, end))
        for s in range(start, end + 1):
            residual[:, s - 1] -= 2 * beat[:, fc - fid + s - 1]
    s4 = struct.pack("<HHH", ref_len * 2, fc, len(zones))
    s4 += b"".join(struct.pack("<HIII", *z) for z in zones) + b"".join(struct.pack("<II", z[1], z[3]) for z in zones)
    sections = {2: struct.pack("<H", 19999), 3: _lead_section(digits.shape[1], True), 4: s4,
                5: _data_section(beat, 5000, 2000, 2, DEFAULT_TABLE), 6: _data_section(residual, 2500, 2000, 2,
                                                                                       DEFAULT_TABLE)}
    path = tmp_path / "rbs.scp"
    path.write_bytes(_record(sections))
    sig = read_ecg(path)
    np.testing.assert_array_equal(np.round(sig.data / 0.0025).astype(np.int64), digits)


# --- bimodal compression -------------------------------------------------------------------------------------------

def _qrs_energy(digits):
    """Slope energy summed over leads in 40 ms windows, in exact integers: no rounding that differs between CPUs."""
    return np.convolve(np.abs(np.diff(digits, axis=1)).sum(0), np.ones(20, dtype=np.int64), "same")


def _qrs_fiducials(digits, beat, fc):
    """1-based sample of each QRS, aligned with the reference beat's fiducial `fc` (1-based) by least squares."""
    energy = _qrs_energy(digits)
    peaks = [p for p in _one_peak_per_beat(energy, 0.4 * energy.max()) if 150 <= p < len(energy) - 150]
    fids = []
    for p in peaks:
        def misfit(fid):
            lo, hi = max(1, fid - 120), min(digits.shape[1], fid + 200)
            return ((digits[:, lo - 1:hi] - beat[:, fc - fid + lo - 1:fc - fid + hi]) ** 2).mean()
        fids.append(min(range(p - 10, p + 11), key=misfit))
    return fids


def _decimate(row, protected, factor):
    """Stored samples of one lead: as is inside protected areas, else the rounded mean of each block of `factor`
    samples counted from the start of each unprotected run (a shorter last block gives one value too)."""
    out, i, n = [], 0, len(row)
    while i < n:
        j = i + 1
        if not protected[i]:
            while j < n and j - i < factor and not protected[j]:
                j += 1
        out.append(int(np.round(row[i:j].mean())))
        i = j
    return np.array(out, dtype=np.int64)


@pytest.fixture(scope="module")
def fixture_sections(shared_data):
    path = shared_data / "formats/scp/Example.scp"
    return scp_ecg._sections(path, path.read_bytes())


@pytest.fixture(scope="module")
def reference_beat(shared_data, fixture_sections):
    """The fixture's reference beat (section 5) in 2.5 uV steps, and its fiducial (1-based: steepest sample)."""
    real = fixture_sections
    ref_ms = struct.unpack_from("<H", real[4], 16)[0]
    avm5, interval5 = struct.unpack_from("<HH", real[5], 16)
    assert (avm5, interval5) == (2500, 2000)  # the beat is in the rhythm's 2.5 uV steps at 500 Hz
    n_ref = ref_ms * 1000 // interval5
    path = shared_data / "formats/scp/Example.scp"
    beat = np.stack(scp_ecg._encoded_block(path, real[5], 12, [n_ref] * 12, scp_ecg._tables(path, real[2]),
                                           LEAD_IDS)[3])
    return beat, int(np.abs(np.diff(beat, axis=1)).sum(0).argmax()) + 1


@pytest.fixture(scope="module")
def bimodal_parts(fixture_sections, reference_beat, digits):
    """Sections of a bimodal record built from the fixture, plus the protected areas and its reference beat."""
    real = fixture_sections
    ref_ms = struct.unpack_from("<H", real[4], 16)[0]
    beat, fc = reference_beat
    fids = _qrs_fiducials(digits, beat, fc)
    assert len(fids) >= 10
    n = digits.shape[1]
    subtraction = [(max(1, f - 120), f, min(n, f + 200)) for f in fids]
    protected = [(f - 31, f + 36) for f in fids]  # 68 samples: blocks of 4 do not tile the gaps exactly
    residual = digits.copy()
    for start, fid, end in subtraction:
        residual[:, start - 1:end] -= beat[:, fc - fid + start - 1:fc - fid + end]
    s4 = struct.pack("<HHH", ref_ms, fc, len(fids))
    s4 += b"".join(struct.pack("<HIII", 0, *z) for z in subtraction)
    s4 += b"".join(struct.pack("<II", *z) for z in protected)
    sections = {2: struct.pack("<H", 19999), 3: _lead_section(n, True), 4: s4, 5: real[5][16:]}
    return sections, residual, protected


def _bimodal_record(tmp_path, parts, factor, interval=None, protected=None, edit=None):
    sections, residual, areas = parts
    sections = dict(sections)
    mask = np.zeros(residual.shape[1], dtype=bool)
    for a, b in areas:
        mask[a - 1:b] = True
    stored = [_decimate(r, mask, factor) for r in residual]
    sections[6] = _data_section(stored, 2500, interval or 2000 * factor, 2, DEFAULT_TABLE, flag=1)
    if protected is not None:  # section 4 that declares other protected areas than the data were stored with
        head = sections[4][:6 + 14 * len(areas)]
        sections[4] = head + b"".join(struct.pack("<II", *z) for z in protected)
    if edit:
        edit(sections)
    path = tmp_path / f"bimodal{factor}.scp"
    path.write_bytes(_record(sections))
    return path


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_bimodal_compression(tmp_path, digits, bimodal_parts, factor):
    sig = read_ecg(_bimodal_record(tmp_path, bimodal_parts, factor))
    assert sig.fs == 500 and sig.data.shape == digits.shape
    got = sig.data.astype(np.float64) / 0.0025  # in the original 2.5 uV steps
    inside = np.zeros(digits.shape[1], dtype=bool)
    for a, b in bimodal_parts[2]:
        inside[a - 1:b] = True
    assert 0.15 < inside.mean() < 0.25
    np.testing.assert_allclose(got[:, inside], digits[:, inside], atol=1e-3)  # stored at full rate: exact
    if factor == 1:
        np.testing.assert_allclose(got, digits, atol=1e-3)
        return
    err_uv = (got - digits)[:, ~inside] * 2.5
    for lead, a, b in zip(sig.leads, got, digits):
        assert np.corrcoef(a, b)[0, 1] > 0.99, lead
    # block means restored by linear interpolation between block centres: about 3 (factor 2) and 5 uV RMS (4);
    # anchoring the blocks at their first sample instead gives 3.6 and 7 uV, one block late 7 and 9 uV
    assert np.sqrt((err_uv ** 2).mean()) < (3.3 if factor == 2 else 5.5)
    assert np.abs(err_uv).max() < (45 if factor == 2 else 90)
    v2 = sig.leads.index("V2")
    assert 1.8 < np.abs(sig.data[v2]).max() < 2.2  # same ~1.97 mV peak as the full-rate decoding


@pytest.mark.parametrize("case, reason", [
    ("factor_not_integer", "decimation factor 3000/2000 us is not a positive integer"),
    ("area_past_the_end", "protected area .* lies outside the leads"),
    ("areas_overlap", "protected areas .* overlap"),
    ("area_missed_by_data", "bits left after the .* samples its bimodal layout implies"),
    ("leads_longer_than_data", "Huffman data ends after"),
    ("no_protected_table", "holds no protected areas"),
    ("no_section_5", "needs sections 4 .* and 5"),
])
def test_malformed_bimodal(tmp_path, bimodal_parts, case, reason):
    areas = bimodal_parts[2]
    n = bimodal_parts[1].shape[1]
    kwargs = {
        "factor_not_integer": {"interval": 3000},
        "area_past_the_end": {"protected": areas[:-1] + [(areas[-1][0], n + 1)]},
        "areas_overlap": {"protected": areas[:1] + [(areas[0][1], areas[1][1])] + areas[2:]},
        "area_missed_by_data": {"protected": areas[:-1] + [(0, 0)]},  # 68 samples stored in full, read as 17
        "leads_longer_than_data": {"edit": lambda s: s.__setitem__(3, s[3].replace(struct.pack("<I", n),
                                                                                  struct.pack("<I", n + 400)))},
        "no_protected_table": {"edit": lambda s: s.__setitem__(4, s[4][:6 + 14 * len(areas)])},
        "no_section_5": {"edit": lambda s: s.pop(5)},
    }[case]
    path = _bimodal_record(tmp_path, bimodal_parts, 4, **kwargs)
    with pytest.raises(ECGCorruptError, match=reason) as e:
        scp_ecg.read(path)  # the reader's own error, not read_ecg's wrapper around an unexpected exception
    assert str(e.value).startswith(str(path))
    with pytest.raises(ECGCorruptError, match=reason):
        read_ecg(path)


def test_one_fiducial_per_qrs_on_a_plateau(digits, reference_beat):
    """The QRS finder keeps one sample per beat when the energy maximum is held for two or three samples (the tie
    that one CPU's rounding makes and another's does not), and when two separate maxima of a beat are equal."""
    energy = _qrs_energy(digits)
    peaks = _one_peak_per_beat(energy, 0.4 * energy.max())
    assert len(peaks) >= 10 and min(np.diff(peaks)) >= 150
    for width in (2, 3):
        flat = energy.copy()
        for p in peaks:
            flat[p:p + width] = energy[p]  # the maximum held for `width` samples
        got = _one_peak_per_beat(flat, 0.4 * energy.max())
        assert len(got) == len(peaks) and all(p <= g < p + width for p, g in zip(peaks, got))
    twin = energy.copy()
    twin[peaks[3] + 40] = energy[peaks[3]]  # a second, separate maximum of the same height within the beat
    assert _one_peak_per_beat(twin, 0.4 * energy.max()) == peaks
    fids = _qrs_fiducials(digits, *reference_beat)
    assert len(fids) == len(peaks) and min(np.diff(fids)) >= 150


def test_lead_count_one_above_what_is_stored(tmp_path, digits):
    """Section 3 giving each lead one sample more than section 6 stores (uncompressed samples): the stored samples
    are read, with a warning; two more is truncation. (With Huffman coding the padding bits of the last byte can
    decode as one more value, so there the count cannot be checked against the data.)"""
    n = digits.shape[1]

    def write(extra):
        sections = {3: _lead_section(n + extra, False), 6: _data_section(digits, 2500, 2000, 0, None)}
        path = tmp_path / f"plus{extra}.scp"
        path.write_bytes(_record(sections))
        return path

    sig = read_ecg(write(1))
    np.testing.assert_array_equal(np.round(sig.data / 0.0025).astype(np.int64), digits)
    assert f"SCP lead I: header says {n + 1} samples, {n} stored; read the {n} stored" in sig.warnings
    with pytest.raises(ECGCorruptError, match=f"SCP lead I: {n} samples stored, header says {n + 2} \\(truncated\\)"):
        read_ecg(write(2))
