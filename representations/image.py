"""`image`: the printed 12-lead page, as the PVC-cardiomyopathy paper fed ECGs to an ImageNet ResNet-152
(JACC EP 2023: Butterworth band-pass and median filter, then the ECG rendered as an image).

Preprocessing is a named `filter` preset: "wide" (default: 0.5-150 Hz zero-phase Butterworth, no median) keeps what
the matrix models see up to the resolution limit, so a 20-50 uV, 5-8 ms fQRS notch (energy up to ~100 Hz) reaches
the page; "pvc" is the paper's 0.5-40 Hz band-pass + running median of 3, which removes about half of that notch.
150 Hz sits below the 250 Hz Nyquist limit of the 500 Hz standardised signals.

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
#: Named preprocessing presets: (low_hz, high_hz, median_kernel). Explicit low_hz / high_hz / median_kernel win.
FILTERS = {"wide": (0.5, 150.0, 1), "pvc": (0.5, 40.0, 3)}
NYQUIST_HZ = 250.0  # standardised signals are 500 Hz
RENDERERS = ("fast", "reference")


@register_representation("image", kind="image")
class PaperImage(Representation):
    """Filtered ECG printed on ECG paper.

    width/height: output pixels (height follows the page's 279.4 x 215.9 mm aspect unless given); line_width_mm:
    trace width on paper (at least one output pixel); grid: draw the 1 mm / 5 mm grid; mode: "colour" (red grid)
    or "grey" (three equal channels); filter: preprocessing preset, "wide" or "pvc" (`FILTERS`);
    low_hz/high_hz/filter_order: zero-phase Butterworth band-pass (None: the preset's);
    median_kernel: running-median length in samples (1 = none; None: the preset's); renderer: "fast" (batched,
    compiled and threaded; used by grids) or "reference" (matplotlib, 100-200x slower, for fidelity checks);
    leads: the leads printed (default all 12, the 3 x 4 page with its lead II rhythm strip); a subset is printed
    one 10 s strip per lead in the standard order, a single lead as one rhythm strip (`_layout`), at the same
    output size.
    """

    # 2: ink-conserving column spans in the fast renderer; 3: compiled kernel, crossing spans composite;
    # 4: `filter` presets, default "wide" (0.5-150 Hz, no median) instead of the PVC paper's 0.5-40 Hz + median 3
    version = "4"

    def __init__(self, *, width: int = 512, height: int | None = None, line_width_mm: float = 0.3,
                 grid: bool = True, mode: str = "colour", filter: str = "wide", low_hz: float | None = None,
                 high_hz: float | None = None, filter_order: int = 2, median_kernel: int | None = None,
                 renderer: str = "fast",
                 leads: list[str] | None = None):
        self.width = width
        self.height = height
        self.line_width_mm = line_width_mm
        self.grid = grid
        self.mode = mode
        self.filter = filter
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
        self.filter_settings()

    def filter_settings(self) -> tuple[float, float, int, int]:
        """(low_hz, high_hz, filter_order, median_kernel) in effect: the preset's values, overridden by any given."""
        if self.filter not in FILTERS:
            raise ValueError(f"image: filter must be one of {tuple(FILTERS)}, not {self.filter!r}")
        low, high, median = FILTERS[self.filter]
        low = low if self.low_hz is None else float(self.low_hz)
        high = high if self.high_hz is None else float(self.high_hz)
        median = median if self.median_kernel is None else self.median_kernel
        if not 0 < low < high < NYQUIST_HZ:
            raise ValueError(f"image: band-pass needs 0 < low_hz < high_hz < {NYQUIST_HZ:g} Hz (Nyquist at 500 Hz), "
                             f"not low_hz={low:g}, high_hz={high:g} (filter {self.filter!r})")
        if isinstance(median, bool) or not isinstance(median, (int, np.integer)) or median < 1:
            raise ValueError(f"image: median_kernel must be a whole number of samples >= 1 (1 = none), not {median!r}")
        if int(self.filter_order) < 1:
            raise ValueError(f"image: filter_order must be >= 1, not {self.filter_order!r}")
        return low, high, int(self.filter_order), int(median)

    def preprocess(self, X: np.ndarray) -> np.ndarray:
        """Band-pass, then running median (the paper's order). ECGs are filtered independently, in chunks across
        threads (scipy's filter loop releases the GIL); the result does not depend on the split."""
        low_hz, high_hz, order, median = self.filter_settings()
        X = np.asarray(X, dtype=np.float32)
        out = np.empty_like(X)

        def work(lo: int, hi: int) -> None:
            out[lo:hi] = median_filter(bandpass(X[lo:hi], low_hz, high_hz, order), median)

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

    def ink_fraction(self, pages: np.ndarray) -> float:
        """Share of the pixels of rendered pages (n, 3, H, W) that differ from the blank page (paper, grid,
        calibration pulses, labels): the traces' ink, i.e. how much of the input carries the signal."""
        from representations._render_fast import page_template

        width, height = _layout.output_size(self.width, self.height)
        blank = page_template(width, height, bool(self.grid), self.mode,
                              float(_layout.line_width_px(self.line_width_mm, width)), lead_subset(self.leads, "image"))
        return float(np.mean(np.any(np.asarray(pages) != blank[None], axis=1)))

    def output_shape(self) -> tuple[int, ...]:
        width, height = _layout.output_size(self.width, self.height)
        return (3, height, width)
