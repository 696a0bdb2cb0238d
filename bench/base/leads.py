"""Lead-name normalisation: every vendor's spelling of a lead -> the names in `bench.base.signal.STANDARD_LEADS`.

Vendors write 'aVR', 'AVR', 'avr', 'MDC_ECG_LEAD_AVR', 'Lead aVR', 'DIII', 'C1'...; this maps them all, and knows the
non-standard leads some files carry (Frank X/Y/Z in PTB, right-sided and posterior chest leads) so they can be
dropped with a note instead of being reported as unknown.
"""
from __future__ import annotations

import re

from bench.base.signal import STANDARD_LEADS

_CANON = {name.lower(): name for name in STANDARD_LEADS}
_ALIASES = {
    "di": "I", "dii": "II", "diii": "III", "d1": "I", "d2": "II", "d3": "III", "1": "I", "2": "II", "3": "III",
    **{f"c{i}": f"V{i}" for i in range(1, 7)},
}
#: Known leads that are not part of the standard 12 (dropped, with a note).
EXTRA_LEADS = {
    "x", "y", "z", "vx", "vy", "vz", "v7", "v8", "v9", "v2r", "v3r", "v4r", "v5r", "v6r", "v7r", "v8r", "v9r",
    "-avr", "avrneg", "negavr", "es", "as", "ai", "ecg", "rhythm", "pace", "pacer", "resp", "ecgx", "ecgy", "ecgz",
}
_PREFIX = re.compile(r"^(mdc_ecg_lead_|lead[\s_-]*|ecg[\s_-]+)", re.I)


def _key(name: str) -> str:
    return _PREFIX.sub("", str(name).strip()).strip().lower().replace(" ", "")


def canonical_lead(name: str) -> str | None:
    """Standard name of a lead ('I'..'V6'), or None if the name is not one of the standard twelve.

    Descriptive names are reduced to their first word: 'Lead aVR, augmented voltage, redundant' (DICOM CID 3001
    meanings), 'Lead V1 (Wilson)'."""
    k = _key(name)
    hit = _CANON.get(k) or _ALIASES.get(k)
    if hit is None:
        words = re.split(r"[\s,;()]+", _PREFIX.sub("", str(name).strip()).strip())
        first = words[0].lower() if words and len(words) > 1 else ""
        hit = _CANON.get(first) or _ALIASES.get(first)
    return hit


_UNLABELLED = re.compile(r"^(channel|ch)\d+$")


def is_extra_lead(name: str) -> bool:
    """A recognised non-standard lead (Frank XYZ, V7-V9, right-sided leads...) or an unlabelled extra channel."""
    k = _key(name)
    return k in EXTRA_LEADS or bool(_UNLABELLED.match(k))


#: SCP-ECG lead identification codes (EN 1064 table), also used in DICOM/MDC lead codes ("5.6.3-9-N", "2:N").
SCP_LEAD_IDS = {
    1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 9: "V7", 10: "V2R", 11: "V3R",
    12: "V4R", 13: "V5R", 14: "V6R", 15: "V7R", 16: "X", 17: "Y", 18: "Z", 61: "III", 62: "aVR", 63: "aVL",
    64: "aVF", 65: "-aVR", 66: "V8", 67: "V9", 68: "V8R", 69: "V9R",
}
_CODE = re.compile(r"^(?:5\.6\.3-9-|2:|MDC_ECG_LEAD_)?(\d+)$")


def lead_from_code(code: str | None, meaning: str | None = None) -> str:
    """Lead name from an SCP/MDC numeric lead code, else from a code meaning such as 'Lead I (Einthoven)'."""
    m = _CODE.match(str(code or "").strip())
    if m and int(m.group(1)) in SCP_LEAD_IDS:
        return SCP_LEAD_IDS[int(m.group(1))]
    if meaning:
        return re.sub(r"\s*\(.*\)\s*$", "", str(meaning)).strip()
    return str(code)
