"""Safe XML parsing for every XML ECG format: defusedxml, own encoding detection, namespace-free element helpers.

Why decode the bytes ourselves: vendor exports declare encodings that lie (a UTF-8 file declaring ISO-8859-1, a file
declaring UTF-16 without a byte of UTF-16), which a plain byte-level parse rejects. We take the BOM if there is one,
else UTF-16 if the NUL pattern says so, else strict UTF-8, else the declared encoding, else Windows-1252, and parse
the resulting text (the declaration inside is then ignored by the parser).
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Iterator
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from bench.base.errors import ECGCorruptError, UnsafeXMLError

_DECL_ENC = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def decode_xml_bytes(raw: bytes) -> tuple[str, str, str | None]:
    """(text, encoding used, declared encoding or None)."""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if raw.startswith(bom):
            declared = _declared(raw[len(bom):].decode(enc, errors="ignore").encode("ascii", "ignore"))
            return raw[len(bom):].decode(enc, errors="replace"), enc, declared
    if len(raw) >= 4 and raw[0] == 0 and raw[1] != 0:
        return raw.decode("utf-16-be", errors="replace"), "utf-16-be", None
    if len(raw) >= 4 and raw[1] == 0 and raw[0] != 0:
        return raw.decode("utf-16-le", errors="replace"), "utf-16-le", None
    declared = _declared(raw)
    candidates = ["utf-8"]
    if declared and not declared.lower().replace("_", "-").startswith(("utf-16", "utf-32", "ucs")):
        candidates.append(declared)
    for enc in candidates:
        try:
            return raw.decode(enc), enc, declared
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("cp1252", errors="replace"), "cp1252", declared


def _declared(raw: bytes) -> str | None:
    m = _DECL_ENC.match(raw[:200])
    return m.group(1).decode("ascii") if m else None


def parse_xml(path: Path, raw: bytes) -> tuple[Element, list[str]]:
    """Parse `raw` safely. Returns (root, warnings). DTD-declared entities and external references raise
    UnsafeXMLError; malformed XML raises ECGCorruptError."""
    text, used, declared = decode_xml_bytes(raw)
    warnings = []
    if declared and not raw.isascii() and _norm(declared) != _norm(used) and not (
        _norm(declared).startswith("utf16") and _norm(used).startswith("utf16")
    ):
        warnings.append(f"declared XML encoding {declared!r} does not match the bytes; decoded as {used}")
    try:
        root = DET.fromstring(text, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise UnsafeXMLError(path, f"unsafe XML refused ({type(e).__name__}: {e})") from e
    except ParseError as e:
        raise ECGCorruptError(path, f"malformed XML: {e}") from e
    return root, warnings


def _norm(enc: str) -> str:
    try:
        return codecs.lookup(enc).name.replace("-", "").replace("_", "")
    except LookupError:
        return enc.lower().replace("-", "").replace("_", "")


def local(tag: str) -> str:
    """Tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def children(el: Element, name: str) -> Iterator[Element]:
    """Direct children with local name `name` (namespace ignored)."""
    return (c for c in el if local(c.tag) == name)


def child(el: Element | None, *names: str) -> Element | None:
    """Follow a path of local names through direct children; None if any step is missing."""
    for name in names:
        if el is None:
            return None
        el = next(children(el, name), None)
    return el


def text(el: Element | None, *names: str) -> str | None:
    """Stripped text of the element at `names` below `el` (None if absent or empty)."""
    e = child(el, *names) if names else el
    if e is None or e.text is None:
        return None
    t = e.text.strip()
    return t or None


def descendants(el: Element, name: str) -> Iterator[Element]:
    """All descendants with local name `name`."""
    return (d for d in el.iter() if local(d.tag) == name)
