"""Shared loading for every file-backed cohort source: read + standardise each file once, quarantine bad files,
and cache the standardised signals of the whole cohort as one memory-mapped float32 .npy.

Cache key: a content hash of every ECG file (and its WFDB signal files) plus the package version, so a changed
byte or reader re-builds the matrix. The .npy is written to a temporary name and moved into place (os.replace),
so a crash never leaves a half-written cache; a matrix is built under a per-key lock (two runs never read one
cohort twice), and the temporary files of a build whose process died are removed by the next build of that key
and by `cache clear`. Space for the matrix is reserved before it is filled, so a full disk is a `DiskFullError`
(path, size), never a SIGBUS. Reader worker processes die with their parent (`bench.base.process_pool`).
Bad files (any ECGReadError, and only that family) go to the quarantine table with the reason; the rest goes on:
n_in == len(records) + len(quarantine).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

import bench
from bench.base.cohort import Cohort, fingerprint_arrays
from bench.base.errors import ECGReadError
from bench.base.signal import N_SAMPLES
from bench.harness import paths
from bench.base.storage import lock_is_free, locked, raise_if_disk_full, remove_path, reserved_memmap

_COMPANIONS = (".dat", ".mat", ".xyz")
SIGNALS = "signals"  # subfolder of the cache dir holding the standardised signal matrices


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """`cache_dir`, else the one cache folder bench.harness.paths decides ($BENCH_CACHE, else <results>/cache)."""
    root = paths.cache_dir(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _file_digest(h, path: Path) -> None:
    parts = [path]
    if path.suffix.lower() == ".hea":
        parts += [path.with_suffix(s) for s in _COMPANIONS if path.with_suffix(s).is_file()]
    for p in parts:
        h.update(str(p.name).encode())
        try:
            with open(p, "rb") as f:
                h.update(f.read())
        except OSError as e:  # a missing file is quarantined later; it still shapes the key
            h.update(f"missing:{type(e).__name__}".encode())


def content_key(kind: str, paths: list[Path]) -> str:
    """Hash of the bytes of every file (with WFDB companions), the list order and the package version."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{kind}|{bench.__version__}|{len(paths)}".encode())
    for p in paths:
        _file_digest(h, Path(p))
    return h.hexdigest()


def read_standardised(path: Path) -> np.ndarray:
    from bench.data.readers import read_ecg
    from bench.data.standardise import standardise

    return standardise(read_ecg(path)).data


def _read_chunk(paths: list[Path]) -> list[np.ndarray | str]:
    """Standardised signal, or the quarantine reason, per path (catches the ECGReadError family only)."""
    out: list[np.ndarray | str] = []
    for p in paths:
        try:
            out.append(read_standardised(Path(p)))
        except ECGReadError as e:
            out.append(f"{type(e).__name__}: {e.reason}")
    return out


def _read_all(paths: list[Path], workers: int):
    """Yield one result of `_read_chunk` per path, in order; chunks go to `workers` processes when many files."""
    chunks = [paths[i:i + 64] for i in range(0, len(paths), 64)]
    if workers > 1 and len(chunks) > 2:
        from bench.base.process_pool import parent_bound_pool

        with parent_bound_pool(workers) as ex:
            for res in ex.map(_read_chunk, chunks):
                yield from res
    else:
        for c in chunks:
            yield from _read_chunk(c)


def read_workers() -> int:
    """Processes used to read a cohort the first time: $BENCH_READ_WORKERS, else min(2, CPUs)."""
    env = os.environ.get("BENCH_READ_WORKERS")
    return max(1, int(env)) if env else min(2, os.cpu_count() or 1)


def load_signals(kind: str, paths: list[Path], labels: list[str], cache_dir=None):
    """Standardised signals for `paths` -> (signals memmap (n_ok, 12, 5000), ok mask (n,), quarantine frame, key).

    `labels` are the file names reported in the quarantine table (as the user wrote them)."""
    key = content_key(kind, paths)
    d = cache_root(cache_dir) / SIGNALS
    d.mkdir(parents=True, exist_ok=True)
    npy, okf, qf = d / f"{key}.npy", d / f"{key}.ok.npy", d / f"{key}.quarantine.csv"
    if not (npy.is_file() and okf.is_file() and qf.is_file()):
        with locked(d / f".{key}.lock"):
            if not (npy.is_file() and okf.is_file() and qf.is_file()):  # another run may have built it meanwhile
                for stale in d.glob(f"{key}.*tmp*"):  # a dead build's: a live one would hold the lock
                    remove_path(stale)
                _build_signals(d, key, paths, labels)
    ok = np.load(okf)
    q = pd.read_csv(qf, dtype=str, keep_default_na=False)
    return np.load(npy, mmap_mode="r"), ok, q, key


def _build_signals(d: Path, key: str, paths: list[Path], labels: list[str]) -> None:
    """Read every file once into d/<key>.npy (usable rows only), <key>.ok.npy and <key>.quarantine.csv."""
    pid = os.getpid()
    tmp, tmp_ok, tmp_q = d / f"{key}.{pid}.tmp.npy", d / f"{key}.{pid}.ok.tmp.npy", d / f"{key}.{pid}.q.tmp"
    tmp2 = d / f"{key}.{pid}.tmp2.npy"
    try:
        ok = np.zeros(len(paths), bool)
        q = []
        out = reserved_memmap(tmp, np.float32, (len(paths), 12, N_SAMPLES))
        n_ok = 0
        for i, (res, lab) in enumerate(zip(_read_all(list(paths), read_workers()), labels)):
            if isinstance(res, str):
                q.append((lab, res))
                continue
            out[n_ok] = res
            ok[i] = True
            n_ok += 1
        out.flush()
        del out
        if n_ok < len(paths):  # shrink to the usable rows (re-write; only when something was quarantined)
            full = np.load(tmp, mmap_mode="r")
            small = reserved_memmap(tmp2, np.float32, (n_ok, 12, N_SAMPLES))
            small[:] = full[:n_ok]
            small.flush()
            del small, full
            os.replace(tmp2, tmp)
        try:
            pd.DataFrame(q, columns=["file", "reason"]).to_csv(tmp_q, index=False)
            np.save(tmp_ok, ok)
        except OSError as e:
            raise_if_disk_full(e, tmp_q)
            raise
        os.replace(tmp, d / f"{key}.npy")
        os.replace(tmp_ok, d / f"{key}.ok.npy")
        os.replace(tmp_q, d / f"{key}.quarantine.csv")
    finally:
        for t in (tmp, tmp_ok, tmp_q, tmp2):
            t.unlink(missing_ok=True)


def clear_signals(cache_dir, pattern: str | None = None) -> tuple[list[str], int]:
    """Remove cohort signal matrices (`<cache>/signals/<key>.*`) whose key matches the glob `pattern` (all when
    None, with the temporary and lock files of builds whose process died). Returns (removed names, bytes)."""
    from fnmatch import fnmatch

    d = Path(cache_dir) / SIGNALS if cache_dir else cache_root() / SIGNALS
    removed, freed = [], 0
    if not d.is_dir():
        return removed, freed
    for f in sorted(d.iterdir()):
        key = f.name.lstrip(".").split(".")[0]
        if pattern is not None and not fnmatch(key, pattern):
            continue
        leftover = "tmp" in f.name or f.name.endswith(".lock")
        if leftover and not lock_is_free(d / f".{key}.lock"):
            continue  # a live build's
        if f.name.endswith(".lock") and pattern is not None:
            continue
        freed += remove_path(f)
        if not f.name.endswith(".lock"):
            removed.append(f"{SIGNALS}/{f.name}")
    return removed, freed


def build_cohort(source: str, kind: str, records: pd.DataFrame, paths: list[Path], cache_dir=None,
                 oracle: pd.DataFrame | None = None, extra_quarantine: pd.DataFrame | None = None) -> Cohort:
    """Records (one row per offered file, with `file`) -> Cohort of the readable ones, quarantine for the rest."""
    signals, ok, quarantine, key = load_signals(kind, paths, records["file"].astype(str).tolist(), cache_dir)
    if extra_quarantine is not None and len(extra_quarantine):
        quarantine = pd.concat([extra_quarantine, quarantine], ignore_index=True)
    recs = records.loc[ok].reset_index(drop=True)
    orc = oracle.loc[ok].reset_index(drop=True) if oracle is not None else None
    n_in = len(records) + (len(extra_quarantine) if extra_quarantine is not None else 0)
    fp = fingerprint_arrays(key, recs, orc if orc is not None else "")
    return Cohort(source=source, records=recs, signals=signals, fingerprint=fp, quarantine=quarantine,
                  oracle=orc, n_in=n_in)
