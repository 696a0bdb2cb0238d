"""Process pools whose workers die with the process that started them.

`concurrent.futures.ProcessPoolExecutor` workers outlive a parent killed with SIGKILL (kill -9, the OOM killer): they
are re-parented and stay, each holding its imported libraries and buffers (~540 MB per cohort reader). No library
option covers it, so each worker's initializer asks Linux to SIGKILL it when its parent dies
(`prctl(PR_SET_PDEATHSIG)`, via ctypes), and everywhere a daemon thread polls the parent pid and exits when it
changes (the portable fallback, and a guard for a parent that died before the prctl took effect).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_POLL_S = 0.5


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_POLL_S)
        if os.getppid() != parent:
            os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: make this worker exit when the process `parent_pid` (which started it) dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = os.getppid()
    if parent != parent_pid and not _started_by_forkserver():
        os._exit(1)  # the parent died between fork and now: the death signal was armed too late
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()


def _started_by_forkserver() -> bool:
    import multiprocessing

    return multiprocessing.get_start_method(allow_none=True) == "forkserver"


def parent_bound_pool(max_workers: int) -> ProcessPoolExecutor:
    """A ProcessPoolExecutor whose workers exit when this process dies, however it dies."""
    return ProcessPoolExecutor(max_workers=max_workers, initializer=die_with_parent, initargs=(os.getpid(),))
