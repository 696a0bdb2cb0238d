"""Safe XML parsing for every XML ECG format: defusedxml, own encoding detection, namespace-free element helpers.

Why decode the bytes ourselves: vendor exports declare encodings that lie (a UTF-8 file declaring ISO-8859-1, a file
declaring UTF-16 without a byte of UTF-16, a byte-order mark that contradicts the declaration), which a plain
byte-level parse rejects or turns into mojibake. The bytes decide, not the declaration: the BOM if there is one, else
UTF-16 if the NUL pattern says so, else strict UTF-8, else the declared 8-bit encoding, else Windows-1252. The text is
then parsed (the declaration inside is ignored by the parser), and a declaration that would have decoded the bytes to
other text is reported in a warning naming the file and both encodings.
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

_DECL_ENC = re.compile(r"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def decode_xml_bytes(raw: bytes) -> tuple[str, str, str | None]:
    """(text without BOM, encoding used, declared encoding or None), the encoding chosen from the bytes alone."""
    text, used = _decode_by_content(raw)
    m = _DECL_ENC.match(text[:200])
    return text, used, m.group(1) if m else None


def _decode_by_content(raw: bytes) -> tuple[str, str]:
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            return raw[len(bom):].decode(enc, errors="replace"), enc + " (BOM)"
    if len(raw) >= 4 and raw[0] == 0 and raw[1] != 0:
        return raw.decode("utf-16-be", errors="replace"), "utf-16-be"
    if len(raw) >= 4 and raw[1] == 0 and raw[0] != 0:
        return raw.decode("utf-16-le", errors="replace"), "utf-16-le"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    m = _DECL_ENC.match(raw[:200].decode("latin-1"))
    declared = m.group(1) if m else None
    if declared and not _is_wide(declared):
        try:
            return raw.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass
    return raw.decode("cp1252", errors="replace"), "cp1252"


def _is_wide(enc: str) -> bool:
    return _norm(enc).startswith(("utf16", "utf32", "ucs"))


def _declaration_fits(raw: bytes, text: str, used: str, declared: str) -> bool:
    """Whether decoding the bytes as declared (BOM included) gives the text we parse: a declared ISO-8859-1 on
    pure-ASCII bytes fits, a declared UTF-16 on 8-bit bytes or a UTF-8 BOM under a Latin-1 declaration does not."""
    if _norm(declared) == "utf16" and used.startswith("utf-16"):
        return True  # "UTF-16" names no byte order: the BOM or the NUL pattern gives it
    try:
        return raw.decode(declared).lstrip("\ufeff") == text
    except (UnicodeDecodeError, LookupError):
        return False


def parse_xml(path: Path, raw: bytes) -> tuple[Element, list[str]]:
    """Parse `raw` safely. Returns (root, warnings). DTD-declared entities and external references raise
    UnsafeXMLError; malformed XML raises ECGCorruptError."""
    text, used, declared = decode_xml_bytes(raw)
    warnings = []
    if declared and not _declaration_fits(raw, text, used, declared):
        warnings.append(f"{path}: declared XML encoding {declared!r} does not match the bytes, decoded as {used}")
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
