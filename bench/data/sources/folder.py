"""`folder:PATH[,labels=CSV][,allow_outside=1]`: your own ECG files plus a labels CSV (schema in bench.base.labels).

The folder holds the ECG files (any format `bench.data.readers.read_ecg` supports) and `labels.csv`, or `labels=CSV`
names the CSV elsewhere. File paths in the CSV are relative to the folder; a path that leaves it (`../x`, an
absolute path) is quarantined unless `allow_outside=1`, so a labels file cannot make the suite read (and log
signals of) arbitrary files. A WFDB header whose signal file is not beside it, and a dangling symlink, are
quarantined with the reason; ECG files in the folder that labels.csv does not list are warned about and listed in
the quarantine table (reason `unlisted`), never silently ignored. An `oracle.csv` beside the labels (a simulator
output folder) is joined on ecg_id and becomes the cohort's oracle.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from bench.base.cohort import Cohort, register_source
from bench.base.errors import CohortError
from bench.data.sources.common import build_cohort
from bench.base.labels import labels_to_records

ECG_SUFFIXES = (".hea", ".xml", ".dcm", ".scp", ".mat")  # files counted as ECGs when unlisted
_WFDB_COMPANIONS = (".dat", ".mat", ".xyz")


def read_labels_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise CohortError(f"labels file {path} not found (a folder source needs labels.csv or labels=CSV)")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise CohortError(f"{path}: not a readable CSV ({type(e).__name__}: {e})") from e


def _inside(folder: Path, path: Path) -> bool:
    """Lexically inside `folder` (symlinks placed in the folder are the folder owner's choice and are followed)."""
    return os.path.abspath(path).startswith(os.path.abspath(folder) + os.sep)


def _wfdb_signal_files(header: Path) -> list[str]:
    """Signal file names of a WFDB header (first token of each signal line); [] when it cannot be read."""
    try:
        lines = [ln.strip() for ln in header.read_text(errors="replace").splitlines()]
    except OSError:
        return []
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        return []
    try:
        n_sig = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return []
    return [ln.split()[0] for ln in lines[1:1 + n_sig] if ln.split()]


def path_problem(folder: Path, path: Path, allow_outside: bool) -> str | None:
    """Why `path` (from labels.csv) must not be read, or None."""
    if not allow_outside and not _inside(folder, path):
        return "outside the folder (paths in labels.csv are relative to it; folder:PATH,allow_outside=1 permits it)"
    if path.is_symlink() and not path.exists():
        return f"dangling symlink (points to {os.readlink(path)}, which does not exist)"
    if path.suffix.lower() == ".hea":
        for f in _wfdb_signal_files(path):
            if os.path.basename(f) != f or f in (".", ".."):
                return f"WFDB signal file {f!r} is not beside its header (a header may only name files in its folder)"
    return None


def unlisted_ecg_files(folder: Path, listed: list[Path]) -> list[str]:
    """ECG files under `folder` (by suffix, WFDB companions excluded) that labels.csv does not list, relative."""
    seen = {os.path.abspath(p) for p in listed} | {os.path.abspath(p) + ".hea" for p in listed}
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names = set(filenames)
        for f in sorted(filenames):
            stem, ext = os.path.splitext(f)
            if ext.lower() not in ECG_SUFFIXES or f.startswith("."):
                continue
            if ext.lower() in _WFDB_COMPANIONS and f"{stem}.hea" in names:
                continue
            p = os.path.abspath(os.path.join(dirpath, f))
            if p not in seen:
                out.append(os.path.relpath(p, folder))
    return out


def load_folder(folder: Path, labels_csv: Path, source: str, cache_dir=None, allow_outside: bool = False) -> Cohort:
    records = labels_to_records(read_labels_csv(labels_csv), where=str(labels_csv))
    if "fs" in records.columns:
        records["fs"] = pd.to_numeric(records["fs"], errors="coerce")
    all_paths = [Path(f) if Path(f).is_absolute() else folder / f for f in records["file"]]
    problems = [path_problem(folder, p, allow_outside) for p in all_paths]
    keep = [why is None for why in problems]
    refused = [(f, why) for f, why in zip(records["file"], problems) if why is not None]
    unlisted = unlisted_ecg_files(folder, all_paths)
    if unlisted:
        shown = ", ".join(unlisted[:5]) + (f" ... (+{len(unlisted) - 5})" if len(unlisted) > 5 else "")
        warnings.warn(f"{source}: {len(unlisted)} ECG file(s) in the folder are not in {labels_csv.name} and are "
                      f"not used (listed in the quarantine table): {shown}", stacklevel=2)
    extra = pd.DataFrame(refused + [(f, f"unlisted: in the folder but not in {labels_csv.name}") for f in unlisted],
                         columns=["file", "reason"])
    records = records.loc[keep].reset_index(drop=True)
    paths = [p for p, k in zip(all_paths, keep) if k]
    oracle = None
    ofile = labels_csv.parent / "oracle.csv"
    if ofile.is_file():
        o = pd.read_csv(ofile, dtype={"ecg_id": str})
        o = o.set_index("ecg_id").reindex(records["ecg_id"])
        if o.isna().all(axis=1).any():
            missing = list(o.index[o.isna().all(axis=1)][:5])
            raise CohortError(f"{ofile}: no oracle row for ecg_id {missing}")
        oracle = o.reset_index()
    return build_cohort(source, f"folder:{labels_csv.resolve()}", records, paths, cache_dir, oracle=oracle,
                        extra_quarantine=extra)


def _flag(spec: str, key: str, value: str) -> bool:
    if value not in ("0", "1"):
        raise CohortError(f"{spec}: option {key}={value!r} must be 0 or 1")
    return value == "1"


@register_source("folder")
def folder_source(arg: str, *, labels: str | None = None, allow_outside: str = "0", cache_dir=None,
                  **opts) -> Cohort:
    """Your own folder of ECG files + labels CSV."""
    if opts:
        raise CohortError(f"folder:{arg}: unknown option(s) {', '.join(opts)} (known: labels, allow_outside)")
    if not arg:
        raise CohortError("folder source needs a path: folder:PATH[,labels=CSV][,allow_outside=1]")
    folder = Path(arg).expanduser()
    if not folder.is_dir():
        raise CohortError(f"folder:{arg}: no such directory")
    lab = Path(labels).expanduser() if labels else folder / "labels.csv"
    if labels and not lab.is_absolute() and not lab.is_file():
        lab = folder / labels
    spec = f"folder:{arg}" + (f",labels={labels}" if labels else "")
    outside = _flag(spec, "allow_outside", allow_outside)
    spec += ",allow_outside=1" if outside else ""
    return load_folder(folder, lab, spec, cache_dir, allow_outside=outside)
