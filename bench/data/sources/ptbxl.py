"""`ptbxl:PATH[,records=100|500][,records_dir=DIR]`: a PTB-XL folder (the full release or any subset of it).

PATH holds `ptbxl_database.csv` (or a `ptbxl_database*.csv` subset), `scp_statements.csv` and `records100/` /
`records500/`. Every ECG is read at its file's rate and resampled to 500 Hz by `standardise`; the rate read is the
`fs` column. `records=100` (default; the rate of the Strodthoff et al. 2021 benchmark, and the only one some copies
hold) prefers `filename_lr`, `records=500` prefers `filename_hr`; an ECG whose preferred file is absent is read from
the other one and noted in the `records_note` column (a one-line warning counts them): a fallback, not a quarantine.
A row whose files are all absent is quarantined by name (its preferred file, reason "no signal file").
`records_dir=DIR` also looks in DIR by file name and by the CinC 2021 name of PTB-XL records (HR<ecg_id:05d>).

Labels, from `scp_codes` (Wagner et al., Sci Data 2020). A code counts when it is a key of `scp_codes`, whatever its
likelihood (the rule of Strodthoff et al., IEEE JBHI 2021):
- superclass_NORM/MI/STTC/CD/HYP = 1 when one of the ECG's codes has `diagnostic` = 1 in scp_statements.csv and
  that `diagnostic_class`; `superclasses` lists them ("MI|STTC", empty when none);
- mi = superclass_MI (every ECG is labelled);
- mi_territories = the territories among the ECG's infarct codes IMI, ASMI, ILMI, AMI, ALMI, LMI, with IPLMI
  (infero-postero-lateral) counted as ILMI and IPMI (infero-posterior) as IMI; PMI (posterior) is none of the six;
  the injury codes (INJAS, ...) carry no territory. mi_territory = that territory when there is exactly one, else
  empty: ECGs with codes of several territories (e.g. IMI + ASMI) or none are left out of localisation;
- af = 1 when AFIB or AFLT is among the codes (atrial fibrillation or flutter); af_in_statement = AFIB among them;
- age (300, PTB-XL's code for > 89, becomes 90), sex (PTB-XL codes 0 male / 1 female; converted to the schema's
  1 male / 0 female), height_cm, weight_kg (NaN where absent), strat_fold (published folds: 1-8 train,
  9 validation, 10 test; `patient_split(records, fold_column="strat_fold")`).
"""
from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench.base.cohort import MI_TERRITORIES, SUPERCLASSES, Cohort, register_source
from bench.base.errors import CohortError
from bench.data.sources.common import build_cohort

TERRITORY_ALIASES = {"IPLMI": "ILMI", "IPMI": "IMI"}
AF_CODES = frozenset({"AFIB", "AFLT"})
_RATE_COLUMN = {"100": "filename_lr", "500": "filename_hr"}


def _database(path: Path) -> Path:
    exact = path / "ptbxl_database.csv"
    if exact.is_file():
        return exact
    subsets = sorted(path.glob("ptbxl_database*.csv"))
    if not subsets:
        raise CohortError(f"ptbxl:{path}: no ptbxl_database.csv")
    return subsets[0]


def parse_scp_codes(text, where: str) -> dict[str, float]:
    """{code: likelihood} of one `scp_codes` cell (a Python dict literal); a malformed cell names its ECG."""
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        codes = ast.literal_eval(text)
    except (ValueError, SyntaxError) as e:
        raise CohortError(f"{where}: scp_codes {text[:60]!r} is not a dict literal ({type(e).__name__})") from None
    if not isinstance(codes, dict):
        raise CohortError(f"{where}: scp_codes {text[:60]!r} is not a dict literal")
    return codes


def superclass_map(scp: pd.DataFrame) -> dict[str, str]:
    """{code: diagnostic_class} for the codes with `diagnostic` = 1."""
    diag = scp[pd.to_numeric(scp["diagnostic"], errors="coerce") == 1]
    return {str(c): str(k) for c, k in diag["diagnostic_class"].items() if k in SUPERCLASSES}


def scp_labels(codes: dict[str, float], classes: dict[str, str]) -> dict[str, object]:
    """Label columns of one ECG from its {code: likelihood} (every key counts, whatever its likelihood)."""
    supers = {classes[c] for c in codes if c in classes}
    terr = sorted({TERRITORY_ALIASES.get(c, c) for c in codes} & set(MI_TERRITORIES))
    out: dict[str, object] = {f"superclass_{s}": int(s in supers) for s in SUPERCLASSES}
    out["superclasses"] = "|".join(s for s in SUPERCLASSES if s in supers)
    out["mi"] = int("MI" in supers)
    out["mi_territories"] = "|".join(terr)
    out["mi_territory"] = terr[0] if len(terr) == 1 and "MI" in supers else ""
    out["af"] = int(bool(AF_CODES & set(codes)))
    out["af_in_statement"] = int("AFIB" in codes)
    return out


def _candidates(row, path: Path, col: str, extra: Path | None) -> list[Path]:
    rel = str(row.get(col) or "")
    if not rel or rel == "nan":
        return []
    name = Path(rel).name
    cands = [path / (rel + ".hea"), path / (name + ".hea")]
    if extra is not None:
        cands.append(extra / (name + ".hea"))
        if col == "filename_hr":
            cands.append(extra / f"HR{int(row['ecg_id']):05d}.hea")
    return cands


def find_record(row, path: Path, prefer: str, extra: Path | None) -> tuple[Path | None, int, str]:
    """(header path, rate, note) of one row: the preferred rate's file, else the other's (noted), else None."""
    other = "500" if prefer == "100" else "100"
    for rate in (prefer, other):
        for p in _candidates(row, path, _RATE_COLUMN[rate], extra):
            if p.is_file():
                note = "" if rate == prefer else f"no {prefer} Hz file; read at {rate} Hz"
                return p, int(rate), note
    return None, 0, ""


def _number(v) -> float:
    return float(v) if pd.notna(v) else np.nan


@register_source("ptbxl")
def ptbxl_source(arg: str, *, records: str = "100", records_dir: str | None = None, cache_dir=None,
                 **opts) -> Cohort:
    """PTB-XL: diagnostic superclasses, MI and territory, AF/flutter, age, sex, height, weight, published folds."""
    if opts:
        raise CohortError(f"ptbxl:{arg}: unknown option(s) {', '.join(opts)} (known: records, records_dir)")
    if records not in _RATE_COLUMN:
        raise CohortError(f"ptbxl:{arg}: records must be 100 or 500 (Hz), not {records!r}")
    path = Path(arg).expanduser()
    if not path.is_dir():
        raise CohortError(f"ptbxl:{arg}: no such directory")
    scp_file = path / "scp_statements.csv"
    if not scp_file.is_file():
        raise CohortError(f"ptbxl:{arg}: no scp_statements.csv")
    scp = pd.read_csv(scp_file, index_col=0)
    if {"diagnostic", "diagnostic_class"} - set(scp.columns):
        raise CohortError(f"{scp_file}: needs columns diagnostic and diagnostic_class")
    classes = superclass_map(scp)
    db_file = _database(path)
    db = pd.read_csv(db_file)
    need = {"ecg_id", "patient_id", "scp_codes", "age", "sex", "strat_fold", "filename_lr", "filename_hr"}
    if need - set(db.columns):
        raise CohortError(f"{db_file}: missing column(s) {', '.join(sorted(need - set(db.columns)))}")
    extra = Path(records_dir).expanduser() if records_dir else None
    rows, paths, missing = [], [], []
    for _, r in db.iterrows():
        ecg_id = int(r["ecg_id"])
        p, fs, note = find_record(r, path, records, extra)
        if p is None:
            rel = str(r.get(_RATE_COLUMN[records]) or f"ecg_id {ecg_id}")
            missing.append((rel + ".hea", "no signal file: neither filename_lr nor filename_hr exists"))
            continue
        age = _number(r["age"])
        rows.append({
            "ecg_id": str(ecg_id), "patient_id": str(int(float(r["patient_id"]))),
            "file": str(p.relative_to(path)) if p.is_relative_to(path) else str(p), "fs": fs, "records_note": note,
            "age": 90.0 if age >= 300 else age, "sex": 1.0 - float(r["sex"]) if pd.notna(r["sex"]) else np.nan,
            "height_cm": _number(r.get("height")), "weight_kg": _number(r.get("weight")),
            **scp_labels(parse_scp_codes(r["scp_codes"], f"{db_file.name} ecg_id {ecg_id}"), classes),
            "strat_fold": int(r["strat_fold"]), "scp_codes": r["scp_codes"],
        })
        paths.append(p)
    recs = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["ecg_id", "patient_id", "file", "records_note"])
    n_fallback = int((recs["records_note"] != "").sum()) if len(recs) else 0
    if n_fallback:
        warnings.warn(f"ptbxl:{arg}: {n_fallback} of {len(db)} ECGs read at the other rate (no {records} Hz file); "
                      "see the records_note column", stacklevel=2)
    spec = f"ptbxl:{arg}" + "".join(f",{k}={v}" for k, v in (("records", records), ("records_dir", records_dir))
                                    if v not in (None, "100"))
    return build_cohort(spec, f"ptbxl:{path.resolve()}", recs, paths, cache_dir,
                        extra_quarantine=pd.DataFrame(missing, columns=["file", "reason"]))
