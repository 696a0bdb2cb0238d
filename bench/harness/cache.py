"""Representation cache: each representation of each cohort computed once and memory-mapped.

An entry is a folder `<cache dir>/representations/<representation>-<key>/` holding `features.npy` (row i = cohort.signals[i],
opened with `mmap_mode="r"`) and `meta.json` (what was built, from what, how long it took). The key hashes the
cache format, the representation's name, class, version and parameters (`get_params`), the cohort fingerprint and,
for representations that fit on data (`fits_data`), the training rows. Arrays are stored in the dtype the
representation returns: uint8 images, float32 sequences and vectors (exact; no lossy float16).

Writes are atomic and safe with several workers: an entry is built in a private temporary folder and renamed into
place in one step, under a per-entry file lock (`fcntl.flock`); a worker that waited on the lock re-checks and
reads the entry the first one built. A crashed build leaves only a `.tmp-*` folder, which `cache clear` removes.
Default cache dir: `$BENCH_CACHE`, else `<results>/cache/` (results: `$BENCH_RESULTS`, else `results/`); cohort
sources keep their own subfolders there.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

CACHE_FORMAT = 1
ENV_VAR = "BENCH_CACHE"
SUBDIR = "representations"
FEATURES = "features.npy"
META = "meta.json"
_CHUNK_BYTES = 64 << 20  # transform this many output bytes at a time
PROBE_ECGS = 16  # the cost probe times `transform` on this many training ECGs, once per entry
_LAST: dict = {}


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache dir (as the grid driver resolves it); representation entries live in its `representations/`."""
    if cache_dir:
        return Path(cache_dir)
    return Path(os.environ.get(ENV_VAR) or Path(os.environ.get("BENCH_RESULTS", "results")) / "cache")


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


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive lock on `path` for the duration (blocks); a no-op where fcntl does not exist."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename alone keeps entries whole
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _open(entry: Path) -> np.ndarray:
    return np.load(entry / FEATURES, mmap_mode="r")


def _build(rep, signals: np.ndarray, train_idx: np.ndarray, tmp: Path, spec: dict) -> dict:
    """Fit on the training rows, transform every row in chunks into tmp/features.npy; returns the meta."""
    t0 = time.perf_counter()
    if getattr(rep, "fits_data", False):
        rep.fit(signals[np.sort(np.asarray(train_idx, dtype=np.int64))])
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
            out = np.lib.format.open_memmap(tmp / FEATURES, mode="w+", dtype=block.dtype, shape=(n, *shape))
        out[i:i + len(block)] = block
        i += len(block)
        chunk = max(1, _CHUNK_BYTES // max(block[0].nbytes, 1))
    if out is None:  # empty cohort
        out = np.lib.format.open_memmap(tmp / FEATURES, mode="w+", dtype=np.float32, shape=(0, *shape))
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
    on a hit it is left as given. `last_build_stats()` tells which happened and what it cost.
    """
    root = cache_root(cache_dir) / SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    spec = cache_spec(rep, cohort.fingerprint, train_idx)
    name = f"{rep.name}-{cache_key(spec)}"
    entry = root / name
    t0 = time.perf_counter()
    if not _complete(entry):
        with _locked(root / f".{name}.lock"):
            if not _complete(entry):  # re-check: another worker may have filled it while we waited
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
    if not meta.get("probe") and len(cohort.signals):  # an entry from before the probe was stored
        meta["probe"] = representation_cost(rep, _probe_sample(cohort.signals, train_idx))
        tmp_meta = entry / f".{META}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp_meta.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp_meta, entry / META)
    _LAST.clear()
    _LAST.update(meta, hit=True, path=str(entry), key=name, wall_s=time.perf_counter() - t0)
    return _open(entry)


def last_build_stats() -> dict:
    """What the last `build_features` call in this process did: `hit`, `key`, `path`, `shape`, `dtype`, and the
    costs measured when the entry was built (`fit_s`, `transform_s`, `build_s`, `repr_ms_per_ecg`,
    `repr_bytes_per_ecg`)."""
    return dict(_LAST)


def _probe_sample(signals: np.ndarray, train_idx: np.ndarray) -> np.ndarray:
    rows = np.asarray(train_idx, dtype=np.int64)[:PROBE_ECGS]
    return signals[rows] if len(rows) else signals[:PROBE_ECGS]


def entry_cost() -> dict[str, float]:
    """`compute/repr_ms_per_ecg` and `compute/repr_bytes_per_ecg` of the entry the last `build_features` call
    returned: the cost probe measured once when the entry was built (`representation_cost` on its first
    PROBE_ECGS training ECGs), so a cache hit costs no rendering."""
    return {f"compute/{k}": float(v) for k, v in (_LAST.get("probe") or {}).items()}


def representation_cost(rep, signals_sample: np.ndarray) -> dict[str, float]:
    """Measured cost of `rep` on a sample batch: wall ms per ECG of `transform` (after one warm-up ECG, so
    per-process set-up such as a renderer's page template is not charged to the sample) and bytes of one ECG as
    stored. An unfitted data-fitted representation is fitted on a clone on the sample itself, for timing only."""
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
    rep.transform(sample)
    ms = 1000.0 * (time.perf_counter() - t0) / len(sample)
    return {"repr_ms_per_ecg": ms, "repr_bytes_per_ecg": int(out[0].nbytes)}


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


def clear(cache_dir=None, pattern: str | None = None) -> tuple[list[str], int]:
    """Remove entries whose name (`<representation>-<key>`) or cohort fingerprint matches the glob `pattern`
    (all when None, with leftover temporary folders and lock files). Returns (removed names, bytes freed)."""
    from fnmatch import fnmatch

    root = cache_root(cache_dir) / SUBDIR
    removed, freed = [], 0
    if not root.is_dir():
        return removed, freed
    for e in list_entries(cache_dir):
        if pattern is None or fnmatch(e["name"], pattern) or fnmatch(str(e["cohort"]), pattern):
            freed += e["bytes"]
            shutil.rmtree(root / e["name"])
            removed.append(e["name"])
    if pattern is None:
        for leftover in root.glob(".*"):
            freed += _size(leftover) if leftover.is_dir() else leftover.stat().st_size
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    return removed, freed
