"""Safe writes of large cache files: disk space reserved before a memory map is filled, per-entry file locks, and
the removal of temporary files whose writer died.

Hand-written because no library covers it: `numpy.lib.format.open_memmap` creates a sparse file, and a store into a
page the filesystem cannot back kills the process with SIGBUS (exit 135, no message) instead of raising. Reserving
the blocks first (`shutil.disk_usage`, then `os.posix_fallocate`) turns a full disk into a `DiskFullError` naming
the path and the space needed, before any work is done.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from bench.base.errors import DiskFullError

_NPY_HEADER_MAX = 4096  # an .npy header is at most a few hundred bytes; round up to a page
_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def disk_full_error(path: Path, needed: int = 0) -> DiskFullError:
    """The one-line error for a full disk at `path` (`needed`: bytes the write needed, 0 when not known)."""
    parent = next((p for p in Path(path).parents if p.exists()), Path.cwd())
    free = shutil.disk_usage(parent).free
    size = f"{_mb(needed)} needed, " if needed else "disk full, "
    return DiskFullError(f"{path}: not enough disk space: {size}{_mb(free)} free on {parent} "
                         f"(free space, or point --cache / $BENCH_CACHE at a larger disk)")


def check_space(path: Path, needed: int) -> None:
    """Raise DiskFullError when the filesystem of `path` has less than `needed` bytes free."""
    if shutil.disk_usage(path.parent).free < needed:
        raise disk_full_error(path, needed)


def reserved_memmap(path: str | os.PathLike, dtype, shape: tuple[int, ...]) -> np.memmap:
    """A new .npy memory map at `path` whose blocks are allocated on disk before the first store.

    Checks the free space, creates the file, then `posix_fallocate`s its whole length (where the OS has it), so a
    disk filled meanwhile by another writer still raises here rather than SIGBUS later. On failure the file is
    removed."""
    path = Path(path)
    dtype = np.dtype(dtype)
    needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize + _NPY_HEADER_MAX
    check_space(path, needed)
    out = open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    if not hasattr(os, "posix_fallocate"):  # macOS, Windows: the free-space check above is all there is
        return out
    try:
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
        finally:
            os.close(fd)
    except OSError as e:
        del out
        path.unlink(missing_ok=True)
        if e.errno in _FULL:
            raise disk_full_error(path, needed) from None
        raise
    return out


def raise_if_disk_full(e: OSError, path: Path, needed: int = 0) -> None:
    """Re-raise an OSError from writing `path` as DiskFullError when the disk was full (else do nothing)."""
    if e.errno in _FULL:
        raise disk_full_error(path, needed) from e


@contextlib.contextmanager
def locked(path: Path):
    """Exclusive lock on the file `path` for the duration (blocks); a no-op where fcntl does not exist.

    The kernel drops the lock when its holder dies, so a free lock proves that no live writer owns the entry."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic renames alone keep entries whole
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def lock_is_free(path: Path) -> bool:
    """True when nobody holds the lock on `path` (taken and released at once); True when the file is absent."""
    try:
        import fcntl
    except ImportError:
        return True
    if not path.exists():
        return True
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return True


def remove_path(path: Path) -> int:
    """Delete a file or folder; returns the bytes freed."""
    if path.is_dir() and not path.is_symlink():
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        shutil.rmtree(path, ignore_errors=True)
        return size
    size = path.lstat().st_size if path.exists() or path.is_symlink() else 0
    path.unlink(missing_ok=True)
    return size
