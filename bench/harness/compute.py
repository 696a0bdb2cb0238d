"""Compute measurement: measured, never estimated.

On CUDA: GPU time from CUDA events, peak memory from `torch.cuda.max_memory_allocated`. On CPU: wall time, and the
peak resident set size of this process sampled by a background thread while the block runs (the process-wide
`ru_maxrss` high-water mark cannot be reset between cells, so it would carry one cell's peak into the next).
GPU figures are only ever reported when the work ran on a GPU.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil
import torch


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    return torch.device(name)


class PeakRSS:
    """Context manager sampling this process's RSS every `interval` s; `.peak_mb` after exit."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRSS":
        self.peak_bytes = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._proc.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


@dataclass
class ComputeMeter:
    """Accumulates wall time, GPU time (CUDA only) and peak memory over one or more measured blocks."""

    device: torch.device
    wall_s: float = 0.0
    gpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    peak_gpu_mb: float = 0.0
    _events: list = field(default_factory=list)

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    def measure(self):
        meter = self

        class _Block:
            def __enter__(self_inner):
                if meter.on_gpu:
                    torch.cuda.synchronize(meter.device)
                    torch.cuda.reset_peak_memory_stats(meter.device)
                    self_inner.start_ev = torch.cuda.Event(enable_timing=True)
                    self_inner.end_ev = torch.cuda.Event(enable_timing=True)
                    self_inner.start_ev.record()
                self_inner.rss = PeakRSS().__enter__()
                self_inner.t0 = time.perf_counter()
                return self_inner

            def __exit__(self_inner, *exc):
                if meter.on_gpu:
                    self_inner.end_ev.record()
                    torch.cuda.synchronize(meter.device)
                    meter.gpu_s += self_inner.start_ev.elapsed_time(self_inner.end_ev) / 1000.0
                    meter.peak_gpu_mb = max(meter.peak_gpu_mb,
                                            torch.cuda.max_memory_allocated(meter.device) / 2**20)
                meter.wall_s += time.perf_counter() - self_inner.t0
                self_inner.rss.__exit__(*exc)
                meter.peak_rss_mb = max(meter.peak_rss_mb, self_inner.rss.peak_mb)

        return _Block()

    def metrics(self, prefix: str) -> dict[str, float]:
        """`compute/<prefix>_s`, peak RSS, and GPU figures only when measured on a GPU."""
        out = {f"compute/{prefix}_s": self.wall_s, "compute/peak_rss_mb": self.peak_rss_mb}
        if self.on_gpu:
            out["compute/gpu_s"] = self.gpu_s
            out["compute/peak_gpu_mb"] = self.peak_gpu_mb
        return out
