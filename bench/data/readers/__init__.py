"""ECG file readers: `read_ecg(path) -> Signal` for every supported vendor format, detected from the content.

Each format is one module in this package that registers its reader in `FORMATS` (see `base.py`). `read_ecg`
refuses oversized files before parsing, detects the format, decodes, normalises lead names and validates
(`bench.data.validate`). Every failure is an `ECGReadError` (or subclass) whose message names the file and the reason.
"""
from __future__ import annotations

import os
from pathlib import Path

from bench.base.errors import ECGCorruptError, ECGFormatError, ECGReadError, ECGTooLargeError
from bench.data.readers.base import FORMATS, HEAD_BYTES, max_ecg_bytes, register_format
from bench.base.signal import Signal

__all__ = ["FORMATS", "detect_format", "read_ecg", "register_format"]


def _check_file(path: Path, max_bytes: int | None) -> int:
    if not path.is_file():
        raise ECGFormatError(path, "no such file" if not path.exists() else "not a regular file")
    size = path.stat().st_size
    limit = max_ecg_bytes() if max_bytes is None else max_bytes
    if size > limit:
        raise ECGTooLargeError(path, f"file is {size} bytes, over the {limit}-byte bound; refused before parsing")
    if size == 0:
        raise ECGFormatError(path, "empty file (0 bytes)")
    return size


def detect_format(path: str | os.PathLike, *, max_bytes: int | None = None) -> str:
    """Name of the registered format whose sniffer recognises the file's content (ECGFormatError if none)."""
    p = Path(path)
    _check_file(p, max_bytes)
    with open(p, "rb") as f:
        head = f.read(HEAD_BYTES)
    entries = sorted(FORMATS, key=lambda e: (e.info.get("priority", 50), e.name))
    for entry in entries:
        try:
            if entry.info["sniff"](head, p):
                return entry.name
        except Exception:  # a sniffer must never raise; a broken one simply does not match
            continue
    raise ECGFormatError(
        p, f"unrecognised ECG format (supported: {', '.join(e.name for e in entries)})"
    )


def read_ecg(path: str | os.PathLike, *, max_bytes: int | None = None, validate: bool = True) -> Signal:
    """Decode one ECG file into a Signal: data (leads x samples) float32 in mV, fs, standard lead names, meta.

    Unexpected exceptions from third-party decoders (pydicom, sierraecg, wfdb, scipy.io) on bad bytes are re-raised
    as ECGCorruptError naming the original exception, so callers catch one family (ECGReadError)."""
    from bench.data.validate import normalise_leads, mark_calibration
    from bench.data.validate import validate as run_checks

    p = Path(path)
    if not p.exists() and p.with_name(p.name + ".hea").is_file():  # a WFDB record named without extension
        p = p.with_name(p.name + ".hea")
    fmt = detect_format(p, max_bytes=max_bytes)
    reader = FORMATS.get(fmt)
    try:
        sig = reader(p)
    except ECGReadError:
        raise
    except RecursionError as e:
        raise ECGCorruptError(p, f"{fmt}: structure nested too deeply") from e
    except MemoryError as e:
        raise ECGCorruptError(p, f"{fmt}: decoding needs more memory than available") from e
    except Exception as e:
        raise ECGCorruptError(p, f"{fmt}: cannot decode ({type(e).__name__}: {e})") from e
    sig.path = str(p)
    sig.format = fmt
    for key in ("device", "acquired", "patient_id"):
        sig.meta.setdefault(key, None)
    sig.meta.setdefault("statements", [])
    sig = mark_calibration(normalise_leads(sig))
    if validate:
        sig = run_checks(sig)
    return sig
