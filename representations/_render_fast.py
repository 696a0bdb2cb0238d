"""Fast batched renderer of the printed 12-lead page, used by the grid: a numba kernel over numpy geometry.

Hand-written because no library rasterises thousands of polylines per second in batch: matplotlib (the reference,
`_render_reference.py`) spends tens of ms per page on figure machinery, PIL draws one line at a time without
anti-aliasing. The page decomposes into what never changes (paper, grid, calibration pulses, labels: drawn once per
size/style into a cached template) and the 13 traces, which are rasterised column by column:

- every trace is a polyline monotonic in x, so inside one pixel column the pen covers one vertical interval, from
  the lowest to the highest point of the samples in that column and of the segment joining it to the previous
  column (one gather of a precomputed (points per column + 1, columns) index window, then max/min over it; traces
  are linearly upsampled first when a sample is wider than half a pixel, so no column is empty);
- the interval is widened by half the line width vertically, then shrunk about its centre to the ink the pen
  actually lays in the column (arc length of the polyline there x line width, in px^2 over a 1 px column): a
  wiggly flat stretch spans more rows than it inks, and without this the renderer drew ~15 % more trace pixels than
  matplotlib's stroke (plain trace-pixel IoU 0.80 -> 0.85-0.93 against the reference);
- for lines 2 px or wider the interval takes in the neighbouring columns of the same trace (a square pen);
- pixels are anti-aliased by their covered fraction of the interval (interior pixels full, the two end pixels
  partial) and composited over the template.

All of it per page runs in one compiled kernel (numba, GIL released), and pages are split across threads. Per
channel plane the kernel copies the template's plane, then inks that plane's spans while it is still in cache, so
its cost grows with trace pixels, not page pixels. numpy's gather/scatter of the same pixels took twice the page
copy at 1024 px; what is left at that size is mostly writing the page's bytes (fresh memory zeroed by the kernel,
then the template copy). Output buffers of 4 MB and more are recycled once nothing references them (see
`_PagePool`): a 16-page batch at 1024 px is 39 MB, above the 32 MB up to which glibc's malloc reuses freed memory, so
every batch got fresh pages that the kernel zeroed first (0.25 ms a page, then occasional 50 ms stalls with two
threads faulting pages in).
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

from bench.base.signal import FS, N_SAMPLES, STANDARD_LEADS
from representations import _layout as L
from bench.base.threads import run_chunks


def _interval_coverage(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """(k, n) fraction of each pixel [i, i+1) covered by each interval [lo_k, hi_k)."""
    i = np.arange(n, dtype=np.float64)[None, :]
    return np.clip(np.minimum(i + 1, hi[:, None]) - np.maximum(i, lo[:, None]), 0.0, 1.0)


def _lines_coverage(positions: np.ndarray, width: float, n: int) -> np.ndarray:
    """(n,) coverage of a pixel row/column by parallel lines of `width` px centred at `positions` (px)."""
    if len(positions) == 0:
        return np.zeros(n)
    return np.clip(_interval_coverage(positions - width / 2, positions + width / 2, n).sum(axis=0), 0.0, 1.0)


def _over(img: np.ndarray, alpha: np.ndarray, colour) -> None:
    """Composite `colour` with per-pixel `alpha` (H, W) over img (3, H, W) float, in place."""
    for c in range(3):
        img[c] += (colour[c] - img[c]) * alpha


def _label_alpha(width: int, height: int, leads: tuple[str, ...]) -> np.ndarray:
    """(H, W) anti-aliased coverage of the lead labels, drawn with the font matplotlib ships (DejaVu Sans)."""
    from pathlib import Path

    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    size_px = L.LABEL_SIZE_MM * height / L.PAGE_H_MM
    mask = Image.new("L", (width, height), 0)
    if size_px >= 4:
        font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size_px)
        draw = ImageDraw.Draw(mask)
        sx, sy = width / L.PAGE_W_MM, height / L.PAGE_H_MM
        for text, x, y in L.labels(leads):
            draw.text((x * sx, y * sy), text, fill=255, font=font, anchor="ls")
    return np.asarray(mask, dtype=np.float64) / 255.0


@lru_cache(maxsize=16)
def page_template(width: int, height: int, grid: bool, mode: str, line_px: float,
                  leads: tuple[str, ...] = STANDARD_LEADS) -> np.ndarray:
    """The static page (3, H, W) uint8: paper, grid, calibration pulses and labels. Cached per size and style."""
    sx, sy = width / L.PAGE_W_MM, height / L.PAGE_H_MM
    img = np.empty((3, height, width), dtype=np.float64)
    img[:] = np.asarray(L.BACKGROUND[mode], dtype=np.float64)[:, None, None]
    if grid:
        for step, lw_mm, colour in ((1.0, L.GRID_MINOR_MM, L.GRID_MINOR[mode]), (5.0, L.GRID_MAJOR_MM, L.GRID_MAJOR[mode])):
            cx = _lines_coverage(np.arange(0.0, L.PAGE_W_MM + 1e-9, step) * sx, max(lw_mm * sx, 0.0), width)
            cy = _lines_coverage(np.arange(0.0, L.PAGE_H_MM + 1e-9, step) * sy, max(lw_mm * sy, 0.0), height)
            _over(img, np.maximum(cx[None, :], cy[:, None]), colour)
    ink = np.zeros((height, width))
    hw = line_px / 2
    for base in L.row_baselines_mm(leads):
        xs, ys = L.pulse_polyline_mm(base)
        for (x0, x1), (y0, y1) in zip(zip(xs[:-1], xs[1:]), zip(ys[:-1], ys[1:])):
            ax = _interval_coverage(np.array([min(x0, x1) * sx - hw]), np.array([max(x0, x1) * sx + hw]), width)[0]
            ay = _interval_coverage(np.array([min(y0, y1) * sy - hw]), np.array([max(y0, y1) * sy + hw]), height)[0]
            ink = np.maximum(ink, ay[:, None] * ax[None, :])
    ink = np.maximum(ink, _label_alpha(width, height, leads))
    _over(img, ink, L.INK)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class _TraceGeometry:
    i0: np.ndarray  # (S,) flat index into (12 * T) of each trace point (left neighbour when upsampled)
    i1: np.ndarray  # right neighbour; empty when not upsampled
    w: np.ndarray  # interpolation weight of i1; empty when not upsampled
    window: np.ndarray  # (K, C) points of each pixel column of each trace (into the flat signal if i1 is empty)
    real_step: np.ndarray  # (K - 1, C) float32: 1 where window rows k, k+1 are distinct points (0: padding)
    dx: float  # horizontal distance between consecutive points, px
    col: np.ndarray  # (C,) pixel column
    col_base: np.ndarray  # (C,) baseline y of the column's trace, px
    tid: np.ndarray  # (C,) trace (panel) of the column


@lru_cache(maxsize=16)
def _trace_geometry(width: int, height: int, leads: tuple[str, ...] = STANDARD_LEADS) -> _TraceGeometry:
    sx, sy = width / L.PAGE_W_MM, height / L.PAGE_H_MM
    up = max(1, int(np.ceil(2 * sx * L.SPEED_MM_S / FS)))  # points per sample: keep spacing <= 0.5 px
    i0s, i1s, ws, bases, starts, cols, tids = [], [], [], [], [], [], []
    offset = 0
    for tid, p in enumerate(L.panels(leads)):
        pos = np.arange((p.stop - p.start - 1) * up + 1) / up  # fractional sample offsets inside the panel
        k0 = np.floor(pos).astype(np.int64)
        k1 = np.minimum(k0 + 1, p.stop - p.start - 1)
        x = (p.x0_mm + pos * (L.SPEED_MM_S / FS)) * sx
        col = np.clip(np.floor(x).astype(np.int64), 0, width - 1)
        first = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
        i0s.append(p.lead_index * N_SAMPLES + p.start + k0)
        i1s.append(p.lead_index * N_SAMPLES + p.start + k1)
        ws.append((pos - k0).astype(np.float32))
        bases.append(np.full(len(first), p.baseline_mm * sy, dtype=np.float32))
        # each column's window: the point before it (the segment joining it), its own points, clipped to the
        # trace; columns with fewer points repeat the last one or take the next column's first (< 1 px off)
        k = int(np.ceil(up * FS / (sx * L.SPEED_MM_S))) + 1
        win = np.clip(first[None, :] - 1 + np.arange(k)[:, None], 0, len(pos) - 1)
        starts.append(offset + win)
        cols.append(col[first])
        tids.append(np.full(len(first), tid))
        offset += len(pos)
    i0 = np.concatenate(i0s)
    window = np.concatenate(starts, axis=1)
    real_step = (np.diff(window, axis=0) != 0).astype(np.float32)
    if up == 1:
        window = i0[window]
    none_i, none_w = np.zeros(0, np.int64), np.zeros(0, np.float32)
    return _TraceGeometry(i0, none_i if up == 1 else np.concatenate(i1s), none_w if up == 1 else np.concatenate(ws),
                          window.astype(np.int64), real_step, float(sx * L.SPEED_MM_S / FS / up),
                          np.concatenate(cols), np.concatenate(bases), np.concatenate(tids).astype(np.int64))


class _Lease:
    """Exposes a pooled buffer to numpy (`__array_interface__`), so every array viewing it keeps this object alive;
    when the last one goes, the buffer returns to the pool."""

    def __init__(self, raw: np.ndarray, shape: tuple[int, ...]):
        self.raw = raw
        self.__array_interface__ = {"shape": shape, "typestr": "|u1", "data": (raw.ctypes.data, False), "version": 3}


class _PagePool:
    """Recycles render_fast's large output buffers, as malloc does for small ones. A buffer is handed out again only
    after every array that viewed it is gone (a weakref finalizer on its `_Lease`). At most `max_free` buffers and
    `max_bytes` wait (the most recently released), so the pool holds about one batch's memory while pages are rendered
    batch after batch."""

    MIN_BYTES = 4 << 20

    def __init__(self, max_free: int = 2, max_bytes: int = 512 << 20):
        self.max_free, self.max_bytes = max_free, max_bytes
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...]) -> np.ndarray:
        nbytes = int(np.prod(shape))
        if nbytes < self.MIN_BYTES:
            return np.empty(shape, dtype=np.uint8)
        with self._lock:
            fits = [b for b in self._free if nbytes <= b.size <= 2 * nbytes]
            raw = min(fits, key=lambda b: b.size) if fits else None
            if raw is not None:
                self._free = [b for b in self._free if b is not raw]
        if raw is None:
            raw = np.empty(nbytes, dtype=np.uint8)
        lease = _Lease(raw, tuple(shape))
        weakref.finalize(lease, self._give_back, raw).atexit = False
        return np.asarray(lease)

    def _give_back(self, raw: np.ndarray) -> None:
        """Keep the most recently released buffers (the batch sizes in use now), dropping the oldest."""
        with self._lock:
            self._free.append(raw)
            while self._free and (len(self._free) > self.max_free
                                  or sum(b.size for b in self._free) > self.max_bytes):
                self._free.pop(0)


_POOL = _PagePool()


def render_fast(signals: np.ndarray, width: int, height: int | None = None, *, line_px: float = 1.0,
                grid: bool = True, mode: str = "colour", threads: int | None = None,
                leads: tuple[str, ...] = STANDARD_LEADS) -> np.ndarray:
    """Pages for a batch of signals (n, 12, 5000) in mV -> (n, 3, H, W) uint8; `leads` (standard order) picks the
    layout: the 12-lead page, or one strip per lead of a subset (see `_layout`).

    threads: pages are rendered in that many contiguous chunks at once, each by the compiled kernel with the GIL
    released (default `_threads.default_threads()`); the output does not depend on it."""
    width, height = L.output_size(width, height)
    signals = np.ascontiguousarray(signals, dtype=np.float32)
    n = len(signals)
    if signals.shape[1:] != (12, N_SAMPLES):
        raise ValueError(f"render_fast: signals must be (n, 12, {N_SAMPLES}), not {signals.shape}")
    leads = tuple(leads)
    g = _trace_geometry(width, height, leads)
    template = page_template(width, height, bool(grid), mode, float(line_px), leads).reshape(-1)
    if n == 0:
        return np.empty((0, 3, height, width), dtype=np.uint8)
    out = _POOL.empty((n, 3, height, width))
    flat, pages = signals.reshape(n, -1), out.reshape(n, -1)
    gain = L.GAIN_MM_MV * height / L.PAGE_H_MM
    hw = float(line_px) / 2
    ink = np.asarray(L.INK, dtype=np.float64)

    def work(lo: int, hi: int) -> None:
        _render_pages(pages[lo:hi], flat[lo:hi], template, g.i0, g.i1, g.w, g.window, g.real_step, g.col,
                      g.col_base, g.tid, gain, float(line_px), g.dx, int(hw) if hw >= 1 else 0, ink, height, width)

    run_chunks(work, n, threads)
    return out


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _render_pages(pages, signals, template, i0, i1, w, window, real_step, col, col_base, tid, gain, line_px, dx,
                  radius, ink, height, width):  # pragma: no cover - compiled; exercised through render_fast
    """Render pages (n, C * H * W) uint8 in place from flat signals (n, 12 * T) mV; see the module docstring.

    Per page: (1) each column's pen interval: extremes of the points in its window, widened by half the line,
    shrunk about its centre to arc length x line width; (2) for lines >= 2 px, the union with `radius` neighbouring
    columns of the same trace; (3) per channel plane: copy the template's plane, then ink the spans while the plane
    is in cache. Interior pixels take the ink; each span's end pixels are blended by their covered fraction over
    what is there, so spans of traces that meet (panel boundaries, tall QRS) composite in order."""
    n = pages.shape[0]
    n_win, n_col = window.shape
    plane = height * width
    hw = line_px / 2.0
    top0, bot0 = np.empty(n_col), np.empty(n_col)
    top, bot = np.empty(n_col), np.empty(n_col)
    points = np.empty(i1.shape[0], np.float32)
    for i in range(n):
        src = signals[i]
        if i1.shape[0] > 0:  # upsampled: linear interpolation between samples
            for k in range(i1.shape[0]):
                points[k] = src[i0[k]] * (1.0 - w[k]) + src[i1[k]] * w[k]
            src = points
        for j in range(n_col):
            v = src[window[0, j]]
            v_hi, v_lo, arc = v, v, 0.0
            for k in range(1, n_win):
                u = src[window[k, j]]
                v_hi, v_lo = max(v_hi, u), min(v_lo, u)
                dy = (u - v) * gain
                arc += real_step[k - 1, j] * np.sqrt(dy * dy + dx * dx)
                v = u
            t = col_base[j] - hw - gain * v_hi  # y runs downwards: the signal's max is the pen's top
            b = col_base[j] + hw - gain * v_lo
            half = min(max(arc, 1.0) * line_px, b - t) / 2.0
            top0[j], bot0[j] = (t + b) / 2.0 - half, (t + b) / 2.0 + half
        for j in range(n_col):
            t, b = top0[j], bot0[j]
            for k in range(1, radius + 1):
                if j >= k and tid[j - k] == tid[j]:
                    t, b = min(t, top0[j - k]), max(b, bot0[j - k])
                if j + k < n_col and tid[j + k] == tid[j]:
                    t, b = min(t, top0[j + k]), max(b, bot0[j + k])
            top[j], bot[j] = t, b
        for ch in range(ink.shape[0]):
            o = pages[i, ch * plane:(ch + 1) * plane]
            tpl = template[ch * plane:(ch + 1) * plane]
            for k in range(plane):  # an explicit loop compiles to a vectorised copy; slice assignment did not
                o[k] = tpl[k]
            c_ink = ink[ch]
            for j in range(n_col):
                t, b = top[j], bot[j]
                lo, hi = max(int(np.floor(t)), 0), min(int(np.ceil(b)), height)
                if hi <= lo:
                    continue
                q = lo * width + col[j]
                a = min(max(min(lo + 1.0, b) - max(float(lo), t), 0.0), 1.0)
                o[q] = np.uint8(o[q] + (c_ink - o[q]) * a + 0.5)
                if hi - lo > 1:
                    for _ in range(lo + 1, hi - 1):
                        q += width
                        o[q] = np.uint8(c_ink)
                    q += width
                    a = min(max(min(float(hi), b) - max(hi - 1.0, t), 0.0), 1.0)
                    o[q] = np.uint8(o[q] + (c_ink - o[q]) * a + 0.5)
