"""Data fingerprints for cell keys: computed without decoding any ECG.

For a folder-backed source: a hash of every file's relative path and bytes. Contents, not modification times: a
copy of the same data (a re-provisioned share, a `cp -r`, another machine's mount) keys the same cells, so a grid
resumes on it and a results store stays valid; editing a label or replacing a file still changes every key.
Hashing reads every file: measured 0.26 s for the 99 MB PTB-XL subset (warm page cache, one core), so ~8 s at
that rate for the full release's ~3 GB (more from a cold disk); once per `bench run`, once per process for external
cohorts (`cached_fingerprint`). For a generated source (`synthetic:N,seed=S`): the spec itself plus the simulator's
version, since the data is a pure function of them.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from bench.base.cohort import parse_spec


def data_fingerprint(spec: str) -> str:
    name, arg, opts = parse_spec(spec)
    h = hashlib.sha256(f"{name}|{sorted(opts.items())}".encode())
    paths = [Path(arg)] if arg and Path(arg).exists() else []
    paths += [Path(v) for k, v in opts.items() if k == "labels" and Path(v).exists()]
    if not paths:
        h.update(arg.encode())
        from bench.data.simulator import SIM_VERSION  # generated data is a pure function of spec + simulator version

        h.update(str(SIM_VERSION).encode())
    for root in paths:
        if root.is_file():
            _update(h, root.name, root)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for f in sorted(filenames):
                p = Path(dirpath) / f
                _update(h, str(p.relative_to(root)), p)
    return h.hexdigest()[:16]


def _update(h, name: str, path: Path) -> None:
    """Feed one file's name and content digest to `h`; a file that cannot be read (a dangling symlink, no
    permission) is keyed by name and reason: it is quarantined later, and it still shapes the key."""
    h.update(f"{name}|".encode())
    try:
        with open(path, "rb") as f:
            h.update(hashlib.file_digest(f, "blake2b").digest())
    except OSError as e:
        h.update(f"unreadable:{type(e).__name__}".encode())


@lru_cache(maxsize=64)
def cached_fingerprint(spec: str) -> str:
    """`data_fingerprint`, computed once per process and spec: every cell of a grid keys its external cohorts with
    it, and walking a full PTB-XL folder once per cell would cost seconds each."""
    return data_fingerprint(spec)
