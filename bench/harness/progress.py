"""Progress over cells and epochs: tqdm bars on a terminal, plain one-line-per-step logs otherwise (CI, files)."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

from tqdm import tqdm


def interactive() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def epoch_reporter(label: str, epochs: int, enabled: bool = True) -> Iterator[Callable[[int, dict], None]]:
    if not enabled:
        yield lambda epoch, rec: None
        return
    if interactive():
        bar = tqdm(total=epochs, desc=f"  {label}", unit="epoch", leave=False, file=sys.stderr)

        def report(epoch: int, rec: dict) -> None:
            bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in rec.items() if k != "train/lr"}, refresh=False)
            bar.update(1)

        try:
            yield report
        finally:
            bar.close()
    else:
        t0 = time.perf_counter()

        def report(epoch: int, rec: dict) -> None:
            shown = " ".join(f"{k}={v:.4g}" for k, v in rec.items() if k != "train/lr")
            print(f"  [{label}] epoch {epoch + 1}/{epochs} {shown} ({time.perf_counter() - t0:.1f}s)",
                  file=sys.stderr, flush=True)

        yield report


class CellProgress:
    """Counts finished cells; a bar on a terminal, a line per cell otherwise."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.done, self.enabled = total, 0, enabled
        self.bar = tqdm(total=total, desc="cells", unit="cell", file=sys.stderr) if enabled and interactive() else None

    def start(self, label: str) -> None:
        if self.enabled and self.bar is None:
            print(f"[{self.done + 1}/{self.total}] {label} ...", file=sys.stderr, flush=True)

    def finish(self, label: str, status: str, wall_s: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"{label}: {status}")
            self.bar.update(1)
        elif self.enabled:
            print(f"[{self.done}/{self.total}] {label}: {status} ({wall_s:.1f}s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
