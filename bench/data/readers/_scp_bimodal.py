"""SCP-ECG bimodal compression (EN 1064, section 6 byte 6 = 1): the residual rhythm is stored at the full rate only
inside the protected areas of section 4 and decimated everywhere else.

Layout of one lead (sample numbers are 1-based record time, as in sections 3 and 4):
- the decimation factor is the ratio of the section 6 to the section 5 sample interval and must be an integer;
- the lead (section 3 start..end) is cut into protected areas (section 4, after the QRS subtraction zones: one
  start/end pair per QRS) and the gaps between them; a protected sample is stored as is, a gap is stored as one value
  per block of `factor` samples counted from the start of the gap (a shorter last block also gives one value);
- the differences of section 6 run over that stored sequence, so they are undone before it is expanded.

Expansion: each block value is placed at the centre of its block and the gap is linearly interpolated between the
block centres, anchored on the neighbouring protected samples (held flat at the lead ends). Then, as the standard's
decoder does (SCP-AV / BioSig `DoFilter`), samples outside the protected areas get a 3-sample moving average that
does not reach across a lead end or a reference-beat subtraction-zone boundary (where the residual jumps). The
reference beat is added afterwards by the caller, at the section 5 rate.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from bench.base.errors import ECGCorruptError


def layout(path: Path, secs: dict[int, bytes], spans, interval6: int):
    """(factor, full-rate interval, per-lead pieces, per-lead stored counts) of a bimodal section 6.

    A piece is (protected, first, last) in record samples; together the pieces of a lead cover its section 3 span."""
    s4, s5 = secs.get(4), secs.get(5)
    if s4 is None or s5 is None:
        raise ECGCorruptError(path, "SCP bimodal compression needs sections 4 (protected areas) and 5 (full rate)")
    if len(s5) < 20 or len(s4) < 22:
        raise ECGCorruptError(path, "SCP section 4 or 5 is shorter than its header")
    interval5 = struct.unpack_from("<H", s5, 18)[0]
    if interval5 == 0 or interval6 < interval5 or interval6 % interval5:
        raise ECGCorruptError(path, f"SCP bimodal decimation factor {interval6}/{interval5} us is not a positive "
                                    "integer")
    factor = interval6 // interval5
    n_qrs = struct.unpack_from("<H", s4, 20)[0]
    table = 22 + 14 * n_qrs
    if table > len(s4):
        raise ECGCorruptError(path, f"SCP section 4 declares {n_qrs} QRS zones it does not hold")
    if table + 8 * n_qrs <= len(s4):
        zones = [struct.unpack_from("<II", s4, table + 8 * q) for q in range(n_qrs)]
    elif s4[8] < 13:  # SCP 1.0/1.1 have no protected-area table: the subtraction zones are protected
        zones = [struct.unpack_from("<III", s4, 24 + 14 * q)[::2] for q in range(n_qrs)]
    else:
        raise ECGCorruptError(path, f"SCP section 4 holds no protected areas for its {n_qrs} QRS zones "
                                    "(needed by bimodal compression)")
    last = max(end for _, end, _ in spans)
    zones = sorted(z for z in zones if z != (0, 0))  # (0, 0): no protected area for that QRS
    for k, (a, b) in enumerate(zones):
        if not 1 <= a <= b <= last:
            raise ECGCorruptError(path, f"SCP protected area {a}-{b} lies outside the leads (samples 1-{last})")
        if k and a <= zones[k - 1][1]:
            raise ECGCorruptError(path, f"SCP protected areas {zones[k - 1][0]}-{zones[k - 1][1]} and {a}-{b} "
                                        "overlap")
    pieces, counts = [], []
    for start, end, _ in spans:
        lead, s = [], start
        for a, b in zones:
            a, b = max(a, start), min(b, end)
            if a > b:
                continue
            if a > s:
                lead.append((False, s, a - 1))
            lead.append((True, a, b))
            s = b + 1
        if s <= end:
            lead.append((False, s, end))
        pieces.append(lead)
        counts.append(sum(b - a + 1 if prot else -(-(b - a + 1) // factor) for prot, a, b in lead))
    return factor, interval5, pieces, counts


def expand(stored: np.ndarray, pieces, factor: int) -> np.ndarray:
    """Full-rate residual of one lead from its stored (protected + decimated) samples."""
    start = pieces[0][1]
    out = np.zeros(pieces[-1][2] - start + 1)
    pos = 0
    for prot, a, b in pieces:
        n = b - a + 1
        if prot:
            out[a - start:b - start + 1] = stored[pos:pos + n]
            pos += n
            continue
        m = -(-n // factor)
        first = np.arange(m) * factor
        x = list(a + first + (np.minimum(factor, n - first) - 1) / 2)  # block centres
        y = list(stored[pos:pos + m].astype(np.float64))
        pos += m
        if a > start:  # the protected sample just before the gap (already expanded)
            x, y = [a - 1] + x, [out[a - 1 - start]] + y
        if b < pieces[-1][2]:  # the protected sample just after it: the next stored value
            x, y = x + [b + 1], y + [float(stored[pos])]
        out[a - start:b - start + 1] = np.interp(np.arange(a, b + 1), x, y)
    return out


def smooth(x: np.ndarray, pieces, subtraction) -> np.ndarray:
    """3-sample moving average outside the protected areas, not across the lead ends or the (first, last) sample
    bounds of the reference-beat subtraction zones."""
    start, n = pieces[0][1], len(x)
    if n < 3:
        return x
    free = np.ones(n, dtype=bool)
    for prot, a, b in pieces:
        if prot:
            free[a - start:b - start + 1] = False
    cut = np.zeros(n + 1, dtype=bool)  # cut[i]: no filtering across samples i-1 and i
    for sb, se in subtraction:
        for i in (sb - start, se + 1 - start):
            if 0 < i < n:
                cut[i] = True
    ok = free[1:-1] & ~cut[1:n - 1] & ~cut[2:n]
    y = x.copy()
    y[1:-1][ok] = ((x[:-2] + x[1:-1] + x[2:]) / 3)[ok]
    return y
