"""The format registry shared by every reader module, and small helpers readers have in common.

A reader module registers one function `read(path) -> Signal` with a `sniff(head, path) -> bool` that recognises its
format from the first bytes of the file (and, for multi-file formats such as WFDB, the file's neighbours).
Detection walks the registry in `priority` order (lower first), so no if/elif chain on format names exists.
"""
from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Callable

from bench.base.errors import ECGCorruptError
from bench.base.registry import Registry
from bench.base.signal import Signal

#: name -> read(path) -> Signal; info: sniff(head: bytes, path: Path) -> bool, priority (int), label (str)
FORMATS: Registry[Callable[[Path], Signal]] = Registry("ECG format", package="bench.data.readers")

#: Bytes read from the start of a file for format detection (enough to skip long XML comment headers).
HEAD_BYTES = 65536


def register_format(name: str, *, sniff: Callable[[bytes, Path], bool], priority: int = 50, label: str = ""):
    """Register a reader; `sniff` must be cheap and must never raise."""
    return FORMATS.register(name, sniff=sniff, priority=priority, label=label or name)


def max_ecg_bytes() -> int:
    """Size bound for one ECG file (bytes): $BENCH_MAX_ECG_BYTES, default 64 MiB.

    A resting 12-lead export is 20 kB to 2 MB; anything far larger is refused before parsing, which also bounds the
    memory an XML or Huffman decoder can be made to use."""
    return int(os.environ.get("BENCH_MAX_ECG_BYTES", 64 * 1024 * 1024))


def decode_text_head(head: bytes) -> str:
    """Best-effort text of a file's first bytes for sniffing: honours UTF-16/UTF-8 BOMs and UTF-16 without a BOM."""
    if head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"):
        return head.decode("utf-16", errors="ignore")
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:].decode("utf-8", errors="ignore")
    if len(head) >= 4 and head[0] == 0 and head[1] != 0:
        return head.decode("utf-16-be", errors="ignore")
    if len(head) >= 4 and head[1] == 0 and head[0] != 0:
        return head.decode("utf-16-le", errors="ignore")
    return head.decode("latin-1")


_ROOT_RE = re.compile(r"<\s*(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s>/]")


def xml_root_name(head: bytes) -> str | None:
    """Local name of the root element of an XML document, from its first bytes (None if not XML-like)."""
    text = decode_text_head(head).lstrip("\ufeff \t\r\n")
    if not text.startswith("<"):
        return None
    # skip the declaration, comments, processing instructions and DOCTYPE
    body = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", "", text, flags=re.S)
    m = _ROOT_RE.search(body)
    return m.group(1) if m else None


def parse_datetime(text: str | None, formats: tuple[str, ...]) -> str | None:
    """First of `formats` that parses `text`, as an ISO-8601 string; None when none does (kept raw in meta)."""
    if not text:
        return None
    t = text.strip()
    for fmt in formats:
        try:
            return datetime.strptime(t, fmt).isoformat()
        except ValueError:
            continue
    return None


def number(text) -> float:
    """A number as vendors write it: surrounding blanks and a decimal comma ('4,88') allowed."""
    return float(str(text).strip().replace(",", "."))


def parse_compact_datetime(value: str | None) -> str | None:
    """HL7 TS / DICOM DT ('YYYYMMDD[HH[MM[SS[.ffffff]]]][+-ZZZZ]') as ISO-8601 (local time, offset dropped)."""
    m = re.match(r"\s*(\d{8,14})(\.\d{1,6})?", value or "")
    if not m:
        return None
    digits = m.group(1)
    fmt = {8: "%Y%m%d", 10: "%Y%m%d%H", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}.get(len(digits))
    if fmt is None:
        return None
    if m.group(2) and len(digits) == 14:
        return parse_datetime(digits + m.group(2), (fmt + ".%f",))
    return parse_datetime(digits, (fmt,))


def unit_scale_to_mv(unit: str | None, *, default: float | None = None) -> float | None:
    """Factor turning a value in `unit` into millivolts (uV, mV, V in their usual spellings); None if unknown."""
    if unit is None:
        return default
    u = unit.strip().lower().replace("µ", "u").replace("μ", "u")
    table = {
        "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
        "uv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
        "nv": 1e-6, "nanovolt": 1e-6, "nanovolts": 1e-6,
        "v": 1e3, "volt": 1e3, "volts": 1e3,
    }
    return table.get(u, default)


#: How many samples a declared count may exceed what a file stores and still be read. Writers exist that count one
#: sample too many (an inclusive end index taken as a count, a last sample never flushed); more missing is truncation.
COUNT_SLACK = 1


def samples_to_read(path: Path, what: str, stored: int, declared: int | None, warnings: list[str]) -> int:
    """The number of samples to read of `what` (a lead, a waveform): the declared count when the file holds it, what is
    stored (with a warning) when the declaration is at most COUNT_SLACK above it; ECGCorruptError when more is
    missing."""
    if declared is None or stored >= declared:
        return stored if declared is None else declared
    if declared - stored > COUNT_SLACK:
        raise ECGCorruptError(path, f"{what}: {stored} samples stored, header says {declared} (truncated)")
    warnings.append(f"{what}: header says {declared} samples, {stored} stored; read the {stored} stored")
    return stored
