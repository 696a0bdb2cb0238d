"""Representation cache: each representation of each cohort computed once and memory-mapped.

An entry is a folder `<cache dir>/representations/<representation>-<key>/` holding `features.npy` (row i = cohort.signals[i],
opened with `mmap_mode="r"`), `meta.json` (what was built, from what, how long it took) and, for a fitted
representation, `fitted.pkl` (what its `transform` needs, so a trained model can be saved with it). The key hashes the
cache format, the representation's name, class, version and parameters (`get_params`), the cohort fingerprint and,
for representations that fit on data (`fits_data`), the training rows. Arrays are stored in the dtype the
representation returns: uint8 images, float32 sequences and vectors (exact; no lossy float16).

Writes are atomic and safe with several workers: an entry is built in a private temporary folder and renamed into
place in one step, under a per-entry file lock (`fcntl.flock`); a worker that waited on the lock re-checks and
reads the entry the first one built. A crashed build leaves only a `.tmp-*` folder, removed by the next build of
that entry (under its lock, so it cannot be a live build's) and by `cache clear`. Space for `features.npy` is
reserved before it is filled (`bench.base.storage.reserved_memmap`), so a full disk is a `DiskFullError` naming
the path and the size, and the cell is FAILED with that reason.
Default cache dir: `$BENCH_CACHE`, else `<results>/cache/` (bench.harness.paths); cohort sources keep their own
subfolders there.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from bench.harness import paths
from bench.base.storage import lock_is_free, locked, remove_path, reserved_memmap

CACHE_FORMAT = 1
SUBDIR = "representations"
FEATURES = "features.npy"
META = "meta.json"
FITTED = "fitted.pkl"  # the fitted representation (fits_data only): a hit restores it, so `rep` can be saved
_CHUNK_BYTES = 64 << 20  # transform this many output bytes at a time
PROBE_ECGS = 16  # the cost probe times `transform` on this many training ECGs, once per entry
_LAST: dict = {}


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache dir (bench.harness.paths decides); representation entries live in its `representations/`."""
    return paths.cache_dir(cache_dir)


def _jsonable(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def cache_spec(rep, fingerprint: str, train_idx: np.ndarray | None) -> dict:
    """Everything the cached array depends on."""
    cls = type(rep)
    train = None
    if getattr(rep, "fits_data", False):
        rows = np.sort(np.asarray(train_idx, dtype=np.int64))
        train = hashlib.sha256(rows.tobytes()).hexdigest()[:16]
    return {"format": CACHE_FORMAT, "representation": rep.name, "class": f"{cls.__module__}.{cls.__qualname__}",
            "version": str(getattr(rep, "version", "0")), "params": _jsonable(rep.get_params(deep=False)),
            "cohort": str(fingerprint), "train": train}


def cache_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def _complete(entry: Path) -> bool:
    return (entry / META).is_file() and (entry / FEATURES).is_file()


def _open(entry: Path) -> np.ndarray:
    return np.load(entry / FEATURES, mmap_mode="r")


def _build(rep, signals: np.ndarray, train_idx: np.ndarray, tmp: Path, spec: dict) -> dict:
    """Fit on the training rows, transform every row in chunks into tmp/features.npy; returns the meta."""
    t0 = time.perf_counter()
    if getattr(rep, "fits_data", False):
        rep.fit(signals[np.sort(np.asarray(train_idx, dtype=np.int64))])
        with open(tmp / FITTED, "wb") as f:
            pickle.dump(rep, f, protocol=pickle.HIGHEST_PROTOCOL)
    fit_s = time.perf_counter() - t0
    n = len(signals)
    shape = tuple(int(s) for s in rep.output_shape())
    transform_s = 0.0
    out = None
    i = 0
    chunk = 1
    while i < n:
        t1 = time.perf_counter()
        block = np.asarray(rep.transform(signals[i:i + chunk]))
        transform_s += time.perf_counter() - t1
        if block.shape[1:] != shape:
            raise ValueError(f"representation {rep.name!r}: transform gave rows of shape {block.shape[1:]}, "
                             f"output_shape() says {shape}")
        if out is None:
            out = reserved_memmap(tmp / FEATURES, block.dtype, (n, *shape))
        out[i:i + len(block)] = block
        i += len(block)
        chunk = max(1, _CHUNK_BYTES // max(block[0].nbytes, 1))
    if out is None:  # empty cohort
        out = reserved_memmap(tmp / FEATURES, np.float32, (0, *shape))
    out.flush()
    dtype = str(out.dtype)
    del out
    meta = {**spec, "shape": [n, *shape], "dtype": dtype, "n": n, "fit_s": round(fit_s, 4),
            "transform_s": round(transform_s, 4), "build_s": round(time.perf_counter() - t0, 4),
            "repr_ms_per_ecg": 1000.0 * transform_s / max(n, 1),
            "repr_bytes_per_ecg": int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "probe": representation_cost(rep, _probe_sample(signals, train_idx)) if n else None}
    (tmp / META).write_text(json.dumps(meta, indent=1, sort_keys=True))
    return meta


def build_features(rep, cohort, train_idx: np.ndarray, cache_dir=None) -> np.ndarray:
    """(n, *rep.output_shape()) model inputs for every row of the cohort, read-only and memory-mapped.

    Fitted representations are fitted on `cohort.signals[train_idx]` only. On a miss `rep` is fitted in place;
    on a hit it gets the fitted state stored with the entry (entries from before that was stored leave it as given). `last_build_stats()` tells which happened and what it cost.
    """
    root = cache_root(cache_dir) / SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    spec = cache_spec(rep, cohort.fingerprint, train_idx)
    name = f"{rep.name}-{cache_key(spec)}"
    entry = root / name
    t0 = time.perf_counter()
    if not _complete(entry):
        with locked(root / f".{name}.lock"):
            if not _complete(entry):  # re-check: another worker may have filled it while we waited
                for stale in root.glob(f".tmp-{name}-*"):  # a dead build's; live builds hold this lock
                    remove_path(stale)
                tmp = root / f".tmp-{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                tmp.mkdir()
                try:
                    meta = _build(rep, cohort.signals, train_idx, tmp, spec)
                    try:
                        os.rename(tmp, entry)
                    except OSError:
                        if not _complete(entry):
                            raise
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                _LAST.clear()
                _LAST.update(meta, hit=False, path=str(entry), key=name, wall_s=time.perf_counter() - t0)
                return _open(entry)
    meta = json.loads((entry / META).read_text())
    if (entry / FITTED).is_file():
        _restore_fitted(rep, entry / FITTED)
    if "input_values_per_ecg" not in (meta.get("probe") or {}) and len(cohort.signals):  # an older entry
        meta["probe"] = representation_cost(rep, _probe_sample(cohort.signals, train_idx))
        tmp_meta = entry / f".{META}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp_meta.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp_meta, entry / META)
    _LAST.clear()
    _LAST.update(meta, hit=True, path=str(entry), key=name, wall_s=time.perf_counter() - t0)
    return _open(entry)


def _restore_fitted(rep, path: Path) -> None:
    """Give `rep` the fitted attributes (`*_`) of the representation the entry was built with."""
    with open(path, "rb") as f:
        fitted = pickle.load(f)
    for name, value in vars(fitted).items():
        if name.endswith("_") and not name.startswith("_"):
            setattr(rep, name, value)


def last_build_stats() -> dict:
    """What the last `build_features` call in this process did: `hit`, `key`, `path`, `shape`, `dtype`, and the
    costs measured when the entry was built (`fit_s`, `transform_s`, `build_s`, `repr_ms_per_ecg`,
    `repr_bytes_per_ecg`)."""
    return dict(_LAST)


def _probe_sample(signals: np.ndarray, train_idx: np.ndarray) -> np.ndarray:
    rows = np.asarray(train_idx, dtype=np.int64)[:PROBE_ECGS]
    return signals[rows] if len(rows) else signals[:PROBE_ECGS]


def entry_cost() -> dict[str, float]:
    """`compute/repr_ms_per_ecg`, `compute/repr_bytes_per_ecg`, `compute/input_values_per_ecg` (and for printed
    pages `compute/ink_fraction`) of the entry the last `build_features` call returned: the cost probe measured
    once when the entry was built (`representation_cost` on its first PROBE_ECGS training ECGs), so a cache hit
    costs no rendering; and `compute/repr_build_s`, what building the entry took (fit, and transform of every
    ECG), once, by whichever process built it."""
    cost = {f"compute/{k}": float(v) for k, v in (_LAST.get("probe") or {}).items()}
    if "build_s" in _LAST:  # what building the whole entry took (fit and transform), once, whoever built it
        cost["compute/repr_build_s"] = float(_LAST["build_s"])
    return cost


def representation_cost(rep, signals_sample: np.ndarray) -> dict[str, float]:
    """Measured cost of `rep` on a sample batch: wall ms per ECG of `transform` (after one warm-up ECG, so
    per-process set-up such as a renderer's page template is not charged to the sample), bytes and values (numel)
    of one ECG as stored, and for a representation with `ink_fraction` (printed pages) the share of inked pixels.
    An unfitted data-fitted representation is fitted on a clone on the sample itself, for timing only."""
    from sklearn.base import clone
    from sklearn.utils.validation import check_is_fitted
    from sklearn.exceptions import NotFittedError

    sample = np.asarray(signals_sample, dtype=np.float32)
    if len(sample) == 0:
        raise ValueError(f"representation {rep.name!r}: cost needs at least one ECG")
    if getattr(rep, "fits_data", False):
        try:
            check_is_fitted(rep)
        except NotFittedError:
            rep = clone(rep).fit(sample)
    out = np.asarray(rep.transform(sample[:1]))
    t0 = time.perf_counter()
    outputs = rep.transform(sample)
    ms = 1000.0 * (time.perf_counter() - t0) / len(sample)
    cost = {"repr_ms_per_ecg": ms, "repr_bytes_per_ecg": int(out[0].nbytes), "input_values_per_ecg": int(out[0].size)}
    if callable(ink := getattr(rep, "ink_fraction", None)):  # printed pages: the share of pixels the traces ink
        cost["ink_fraction"] = ink(outputs)
    return cost


# -- maintenance (used by `python -m bench cache`) ------------------------------------------------------------
def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def list_entries(cache_dir=None) -> list[dict]:
    """One dict per complete entry: name, representation, params, cohort, train, shape, dtype, bytes, created."""
    root = cache_root(cache_dir) / SUBDIR
    out = []
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        if entry.name.startswith(".") or not _complete(entry):
            continue
        meta = json.loads((entry / META).read_text())
        out.append({"name": entry.name, "bytes": _size(entry), **{k: meta.get(k) for k in (
            "representation", "params", "cohort", "train", "shape", "dtype", "created", "build_s",
            "repr_ms_per_ecg")}})
    return out


def _leftover_lock(root: Path, leftover: Path) -> Path:
    """The entry lock guarding a leftover: `.tmp-<name>-<pid>-<hex>` and `.<name>.lock` belong to `.<name>.lock`."""
    if leftover.name.startswith(".tmp-"):
        return root / f".{leftover.name[len('.tmp-'):].rsplit('-', 2)[0]}.lock"
    return leftover


def clear(cache_dir=None, pattern: str | None = None) -> tuple[list[str], int]:
    """Remove representation entries whose name (`<representation>-<key>`) or cohort fingerprint matches the glob
    `pattern`, and cohort signal matrices (`signals/<key>.*`) whose key matches it; with no pattern, all of them
    and every leftover of an interrupted build (temporary files and folders, lock files) whose lock no live
    process holds. Returns (removed names, bytes freed)."""
    from fnmatch import fnmatch

    from bench.data.sources.common import clear_signals

    root = cache_root(cache_dir) / SUBDIR
    removed, freed = clear_signals(cache_root(cache_dir), pattern)
    if not root.is_dir():
        return removed, freed
    for e in list_entries(cache_dir):
        if pattern is None or fnmatch(e["name"], pattern) or fnmatch(str(e["cohort"]), pattern):
            freed += e["bytes"]
            shutil.rmtree(root / e["name"])
            removed.append(e["name"])
    if pattern is None:
        for leftover in sorted(root.glob(".tmp-*")) + sorted(root.glob(".*.lock")):
            if lock_is_free(_leftover_lock(root, leftover)):
                freed += remove_path(leftover)
                if not leftover.name.endswith(".lock"):  # lock files are empty bookkeeping, not worth a line
                    removed.append(leftover.name)
    return removed, freed
