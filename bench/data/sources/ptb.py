"""`ptb:PATH[,others=exclude|negative]`: the PTB Diagnostic ECG Database (patientNNN/sNNNN_re.hea/.dat/.xyz).

Records are 1 kHz with 15 leads; the reader keeps the 12 standard leads (Frank leads dropped) and `standardise`
resamples to 500 Hz and keeps the central 10 s. Labels come from the header comments:
- mi = 1 for "Reason for admission: Myocardial infarction", 0 for "Healthy control"; other diagnoses
  (cardiomyopathy, bundle branch block, ...) are left unlabelled (others=exclude, default) or counted as 0;
- mi_territory from "Acute infarction (localization)" (else "Former infarction (localization)"), mapped to
  AMI, ASMI, ALMI, IMI, ILMI, LMI (posterior alone stays empty);
- age, sex. patient_id is the patientNNN folder (the record name when the file is not in one).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bench.base.cohort import Cohort, register_source
from bench.base.errors import CohortError
from bench.data.sources.common import build_cohort

#: PTB localisation text (lower-case, truncated forms included) -> territory code; the longest match wins.
LOCALISATION = {
    "infero-postero-lateral": "ILMI", "infero-posterior": "IMI", "infero-latera": "ILMI", "inferior": "IMI",
    "infero": "IMI", "antero-septo-lateral": "ALMI", "antero-septal": "ASMI", "antero-lateral": "ALMI",
    "anterior": "AMI", "postero-lateral": "LMI", "lateral": "LMI",
}


def territory(text: str) -> str:
    t = text.strip().lower()
    for key in sorted(LOCALISATION, key=len, reverse=True):
        if t.startswith(key):
            return LOCALISATION[key]
    return ""


def header_labels(comments: list[str]) -> dict:
    facts = {}
    for c in comments:
        k, sep, v = c.partition(":")
        if sep:
            facts[k.strip().lower()] = v.strip()
    reason = facts.get("reason for admission", "").lower()
    mi = 1.0 if "myocardial infarction" in reason else 0.0 if "healthy control" in reason else np.nan
    loc = facts.get("acute infarction (localization)", "")
    if loc.lower() in ("", "no", "n/a", "unknown"):
        loc = facts.get("former infarction (localization)", "")
    age = pd.to_numeric(facts.get("age", ""), errors="coerce")
    sex = {"male": 1.0, "female": 0.0, "m": 1.0, "f": 0.0}.get(facts.get("sex", "").lower(), np.nan)
    return {"mi": mi, "mi_territory": territory(loc) if mi == 1 else "", "age": age, "sex": sex,
            "reason": facts.get("reason for admission", "")}


@register_source("ptb")
def ptb_source(arg: str, *, others: str = "exclude", cache_dir=None, **opts) -> Cohort:
    """PTB Diagnostic ECG Database: MI and territory from the header comments."""
    if opts:
        raise CohortError(f"ptb:{arg}: unknown option(s) {', '.join(opts)} (known: others)")
    if others not in ("exclude", "negative"):
        raise CohortError(f"ptb:{arg}: others must be exclude or negative, not {others!r}")
    path = Path(arg).expanduser()
    if not path.is_dir():
        raise CohortError(f"ptb:{arg}: no such directory")
    heads = sorted(path.glob("patient*/s*_re.hea")) or sorted(path.rglob("s*_re.hea"))
    if not heads:
        raise CohortError(f"ptb:{arg}: no patientNNN/sNNNN_re.hea records")
    rows = []
    for h in heads:
        try:  # header comments only; an unreadable record is quarantined when its signal is read
            comments = [ln.lstrip("#").strip() for ln in h.read_text(encoding="latin-1").splitlines()
                        if ln.startswith("#")]
        except OSError:
            comments = []
        lab = header_labels(comments)
        if np.isnan(lab["mi"]) and others == "negative":
            lab["mi"] = 0.0
        pid = h.parent.name if re.fullmatch(r"patient\d+", h.parent.name) else h.stem
        rows.append({"ecg_id": f"{pid}/{h.stem}" if pid != h.stem else h.stem, "patient_id": pid,
                     "file": str(h.relative_to(path)), "fs": 1000, **lab})
    recs = pd.DataFrame(rows)
    spec = f"ptb:{arg}" + (f",others={others}" if others != "exclude" else "")
    return build_cohort(spec, f"ptb:{path.resolve()}", recs, [path / f for f in recs["file"]], cache_dir)
