"""`folder:PATH[,labels=CSV]`: your own ECG files plus a labels CSV (schema in bench.base.labels).

The folder holds the ECG files (any format `bench.data.readers.read_ecg` supports) and `labels.csv`, or `labels=CSV`
names the CSV elsewhere. File paths in the CSV are relative to the folder (or absolute). An `oracle.csv` beside
the labels (a simulator output folder) is joined on ecg_id and becomes the cohort's oracle.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.base.cohort import Cohort, register_source
from bench.base.errors import CohortError
from bench.data.sources.common import build_cohort
from bench.base.labels import labels_to_records


def read_labels_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise CohortError(f"labels file {path} not found (a folder source needs labels.csv or labels=CSV)")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise CohortError(f"{path}: not a readable CSV ({type(e).__name__}: {e})") from e


def load_folder(folder: Path, labels_csv: Path, source: str, cache_dir=None) -> Cohort:
    records = labels_to_records(read_labels_csv(labels_csv), where=str(labels_csv))
    if "fs" in records.columns:
        records["fs"] = pd.to_numeric(records["fs"], errors="coerce")
    paths = [Path(f) if Path(f).is_absolute() else folder / f for f in records["file"]]
    oracle = None
    ofile = labels_csv.parent / "oracle.csv"
    if ofile.is_file():
        o = pd.read_csv(ofile, dtype={"ecg_id": str})
        o = o.set_index("ecg_id").reindex(records["ecg_id"])
        if o.isna().all(axis=1).any():
            missing = list(o.index[o.isna().all(axis=1)][:5])
            raise CohortError(f"{ofile}: no oracle row for ecg_id {missing}")
        oracle = o.reset_index()
    return build_cohort(source, f"folder:{labels_csv.resolve()}", records, paths, cache_dir, oracle=oracle)


@register_source("folder")
def folder_source(arg: str, *, labels: str | None = None, cache_dir=None, **opts) -> Cohort:
    """Your own folder of ECG files + labels CSV."""
    if opts:
        raise CohortError(f"folder:{arg}: unknown option(s) {', '.join(opts)} (known: labels)")
    if not arg:
        raise CohortError("folder source needs a path: folder:PATH[,labels=CSV]")
    folder = Path(arg).expanduser()
    if not folder.is_dir():
        raise CohortError(f"folder:{arg}: no such directory")
    lab = Path(labels).expanduser() if labels else folder / "labels.csv"
    if labels and not lab.is_absolute() and not lab.is_file():
        lab = folder / labels
    spec = f"folder:{arg}" + (f",labels={labels}" if labels else "")
    return load_folder(folder, lab, spec, cache_dir)
