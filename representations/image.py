"""`image`: the printed 12-lead page, as the PVC-cardiomyopathy paper fed ECGs to an ImageNet ResNet-152
(JACC EP 2023: Butterworth band-pass and median filter, then the ECG rendered as an image).

3 x 4 panels of 2.5 s plus a 10 s lead II rhythm strip at 25 mm/s and 10 mm/mV, mm/5 mm grid, calibration pulses
and lead labels (layout in `_layout.py`). Output (3, H, W) uint8; ImageNet normalisation is the model's job.
"""
from __future__ import annotations

import numpy as np

from representations import _layout
from representations._leads import lead_subset
from representations._filters import bandpass, median_filter
from bench.base.threads import run_chunks
from representations.base import Representation, register_representation

MODES = ("colour", "grey")
RENDERERS = ("fast", "reference")


@register_representation("image", kind="image")
class PaperImage(Representation):
    """Filtered ECG printed on ECG paper.

    width/height: output pixels (height follows the page's 279.4 x 215.9 mm aspect unless given); line_width_mm:
    trace width on paper (at least one output pixel); grid: draw the 1 mm / 5 mm grid; mode: "colour" (red grid)
    or "grey" (three equal channels); low_hz/high_hz/filter_order: zero-phase Butterworth band-pass;
    median_kernel: running-median length in samples (1 = none); renderer: "fast" (batched, compiled and threaded; used by grids) or
    "reference" (matplotlib, 100-200x slower, for fidelity checks); leads: the leads printed (default all 12, the
    3 x 4 page with its lead II rhythm strip); a subset is printed one 10 s strip per lead in the standard order, a
    single lead as one rhythm strip (`_layout`), at the same output size.
    """

    version = "3"  # 2: ink-conserving column spans in the fast renderer; 3: compiled kernel, crossing spans composite

    def __init__(self, *, width: int = 512, height: int | None = None, line_width_mm: float = 0.3,
                 grid: bool = True, mode: str = "colour", low_hz: float = 0.5, high_hz: float = 40.0,
                 filter_order: int = 2, median_kernel: int = 3, renderer: str = "fast",
                 leads: list[str] | None = None):
        self.width = width
        self.height = height
        self.line_width_mm = line_width_mm
        self.grid = grid
        self.mode = mode
        self.low_hz = low_hz
        self.high_hz = high_hz
        self.filter_order = filter_order
        self.median_kernel = median_kernel
        self.renderer = renderer
        self.leads = leads

    def _check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"image: mode must be one of {MODES}, not {self.mode!r}")
        if self.renderer not in RENDERERS:
            raise ValueError(f"image: renderer must be one of {RENDERERS}, not {self.renderer!r}")

    def preprocess(self, X: np.ndarray) -> np.ndarray:
        """Band-pass, then running median (the paper's order). ECGs are filtered independently, in chunks across
        threads (scipy's filter loop releases the GIL); the result does not depend on the split."""
        X = np.asarray(X, dtype=np.float32)
        out = np.empty_like(X)

        def work(lo: int, hi: int) -> None:
            out[lo:hi] = median_filter(bandpass(X[lo:hi], self.low_hz, self.high_hz, self.filter_order),
                                       int(self.median_kernel))

        run_chunks(work, len(X))
        return out

    def render(self, X: np.ndarray) -> np.ndarray:
        """Print already-filtered signals (n, 12, 5000) mV -> (n, 3, H, W) uint8."""
        self._check()
        width, height = _layout.output_size(self.width, self.height)
        style = dict(line_px=_layout.line_width_px(self.line_width_mm, width), grid=bool(self.grid), mode=self.mode,
                     leads=lead_subset(self.leads, "image"))
        if self.renderer == "fast":
            from representations._render_fast import render_fast

            return render_fast(X, width, height, **style)
        from representations._render_reference import render_reference

        return render_reference(X, width, height, **style)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return self.render(self.preprocess(X))

    def output_shape(self) -> tuple[int, ...]:
        width, height = _layout.output_size(self.width, self.height)
        return (3, height, width)
