"""`ptbxl:PATH[,rate=auto|500|100][,min_likelihood=50][,records=DIR]`: the PTB-XL dataset folder.

PATH holds `ptbxl_database.csv` (or a `ptbxl_database*.csv` subset), `scp_statements.csv` and `records100/` /
`records500/`. Labels (Wagner et al., Sci Data 2020):
- mi = 1 when any statement of diagnostic class MI has likelihood >= min_likelihood (default 50), else 0;
- mi_territory = the likeliest of AMI, ASMI, ALMI, IMI, ILMI, LMI among them (IPLMI counted as ILMI, IPMI as IMI;
  PMI alone leaves it empty);
- af_in_statement = 1 when AFIB is among the statements (rhythm statements carry likelihood 0); no follow-up, so
  no AF survival labels;
- age (300, PTB-XL's code for > 89, becomes 90), sex (PTB-XL codes 0 male / 1 female; converted to 1 male);
- strat_fold kept: the published split is folds 1-8 train, 9 validation, 10 test
  (`patient_split(records, fold_column="strat_fold")`).
rate=auto takes the 500 Hz record when present, else the 100 Hz one. `records=DIR` also looks there by file name
and by the CinC 2021 name of PTB-XL records (HR<ecg_id:05d>).
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from bench.base.cohort import MI_TERRITORIES, Cohort, register_source
from bench.base.errors import CohortError
from bench.data.sources.common import build_cohort

TERRITORY_ALIASES = {"IPLMI": "ILMI", "IPMI": "IMI"}


def _database(path: Path) -> Path:
    exact = path / "ptbxl_database.csv"
    if exact.is_file():
        return exact
    subsets = sorted(path.glob("ptbxl_database*.csv"))
    if not subsets:
        raise CohortError(f"ptbxl:{path}: no ptbxl_database.csv")
    return subsets[0]


def scp_labels(codes: dict[str, float], mi_codes: set[str], min_likelihood: float) -> tuple[int, str, int]:
    """(mi, territory, af_in_statement) from one record's {code: likelihood}."""
    mi_hits = {c: v for c, v in codes.items() if c in mi_codes and v >= min_likelihood}
    terr = {}
    for c, v in mi_hits.items():
        t = TERRITORY_ALIASES.get(c, c)
        if t in MI_TERRITORIES:
            terr[t] = max(v, terr.get(t, -1))
    territory = max(sorted(terr), key=lambda t: terr[t]) if terr else ""
    return int(bool(mi_hits)), territory, int("AFIB" in codes)


def _find(row, path: Path, rate: str, extra: Path | None) -> tuple[Path, int]:
    cands = []
    order = {"auto": ("filename_hr", "filename_lr"), "500": ("filename_hr",), "100": ("filename_lr",)}[rate]
    for col in order:
        rel = str(row.get(col) or "")
        if not rel:
            continue
        fs = 500 if col == "filename_hr" else 100
        name = Path(rel).name
        cands += [(path / (rel + ".hea"), fs), (path / (name + ".hea"), fs)]
        if extra is not None:
            cands.append((extra / (name + ".hea"), fs))
            if fs == 500:
                cands.append((extra / f"HR{int(row['ecg_id']):05d}.hea", fs))
    for p, fs in cands:
        if p.is_file():
            return p, fs
    return cands[0] if cands else (path / f"{row['ecg_id']}.hea", 0)


@register_source("ptbxl")
def ptbxl_source(arg: str, *, rate: str = "auto", min_likelihood: str = "50", records: str | None = None,
                 cache_dir=None, **opts) -> Cohort:
    """PTB-XL: MI detection and localisation, AF in statement, age, sex, published folds."""
    if opts:
        raise CohortError(f"ptbxl:{arg}: unknown option(s) {', '.join(opts)} (known: rate, min_likelihood, records)")
    if rate not in ("auto", "500", "100"):
        raise CohortError(f"ptbxl:{arg}: rate must be auto, 500 or 100, not {rate!r}")
    path = Path(arg).expanduser()
    if not path.is_dir():
        raise CohortError(f"ptbxl:{arg}: no such directory")
    scp_file = path / "scp_statements.csv"
    if not scp_file.is_file():
        raise CohortError(f"ptbxl:{arg}: no scp_statements.csv")
    scp = pd.read_csv(scp_file, index_col=0)
    mi_codes = set(scp.index[scp["diagnostic_class"] == "MI"])
    db = pd.read_csv(_database(path))
    need = {"ecg_id", "patient_id", "scp_codes", "age", "sex", "strat_fold"}
    if need - set(db.columns):
        raise CohortError(f"{_database(path)}: missing column(s) {', '.join(sorted(need - set(db.columns)))}")
    extra = Path(records).expanduser() if records else None
    thr = float(min_likelihood)
    rows, paths = [], []
    for _, r in db.iterrows():
        codes = ast.literal_eval(r["scp_codes"]) if isinstance(r["scp_codes"], str) else {}
        mi, terr, af = scp_labels(codes, mi_codes, thr)
        p, fs = _find(r, path, rate, extra)
        paths.append(p)
        age = float(r["age"]) if pd.notna(r["age"]) else np.nan
        rows.append({
            "ecg_id": str(int(r["ecg_id"])), "patient_id": str(int(float(r["patient_id"]))),
            "file": str(p.relative_to(path)) if p.is_relative_to(path) else str(p), "fs": fs,
            "age": 90.0 if age >= 300 else age, "sex": 1.0 - float(r["sex"]) if pd.notna(r["sex"]) else np.nan,
            "mi": mi, "mi_territory": terr, "af_in_statement": af, "strat_fold": int(r["strat_fold"]),
            "scp_codes": r["scp_codes"],
        })
    recs = pd.DataFrame(rows)
    spec = f"ptbxl:{arg}" + "".join(f",{k}={v}" for k, v in (("rate", rate), ("min_likelihood", min_likelihood),
                                                              ("records", records)) if v not in (None, "auto", "50"))
    return build_cohort(spec, f"ptbxl:{path.resolve()}", recs, paths, cache_dir)
