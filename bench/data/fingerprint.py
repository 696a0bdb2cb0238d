"""Cheap data fingerprints for cell keys: computed without decoding any ECG.

For a folder-backed source: a hash of every file's relative path, size and modification time (so editing a label or
replacing a file changes every key). For a generated source (`synthetic:N,seed=S`): the spec itself plus the
simulator's version, since the data is a pure function of them.
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
            st = root.stat()
            h.update(f"{root.name}|{st.st_size}|{st.st_mtime_ns}".encode())
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for f in sorted(filenames):
                p = Path(dirpath) / f
                st = p.stat() if p.exists() else p.lstat()  # a dangling symlink: quarantined later, keyed here
                h.update(f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


@lru_cache(maxsize=64)
def cached_fingerprint(spec: str) -> str:
    """`data_fingerprint`, computed once per process and spec: every cell of a grid keys its external cohorts with
    it, and walking a full PTB-XL folder once per cell would cost seconds each."""
    return data_fingerprint(spec)
