"""Reference renderer of the printed 12-lead page with matplotlib (Agg), the way ECG image toolkits draw it.

Used to check the fast renderer's fidelity and as its speed baseline. One figure per size/style is built once and
reused: each ECG only replaces the 13 traces' y data and redraws the canvas (the cheapest plain use of matplotlib;
building a new figure per page is about five times slower still).
"""
from __future__ import annotations

import numpy as np

from bench.base.signal import STANDARD_LEADS
from representations import _layout as L

_DPI = 100.0


class ReferenceRenderer:
    """A reusable matplotlib page of the layout in `_layout`; `render(signals)` -> (n, 3, H, W) uint8."""

    def __init__(self, width: int, height: int | None = None, *, line_px: float = 1.0, grid: bool = True,
                 mode: str = "colour", leads: tuple[str, ...] = STANDARD_LEADS):
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.width, self.height = L.output_size(width, height)
        pt = 72.0 / _DPI  # points per pixel
        fig = Figure(figsize=(self.width / _DPI, self.height / _DPI), dpi=_DPI)
        self.canvas = FigureCanvasAgg(fig)
        fig.patch.set_facecolor(np.asarray(L.BACKGROUND[mode]) / 255)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, L.PAGE_W_MM)
        ax.set_ylim(L.PAGE_H_MM, 0)
        ax.set_axis_off()
        sx, sy = self.width / L.PAGE_W_MM, self.height / L.PAGE_H_MM
        if grid:
            for step, lw_mm, colour in ((1.0, L.GRID_MINOR_MM, L.GRID_MINOR[mode]),
                                        (5.0, L.GRID_MAJOR_MM, L.GRID_MAJOR[mode])):
                xs = np.arange(0.0, L.PAGE_W_MM + 1e-9, step)
                ys = np.arange(0.0, L.PAGE_H_MM + 1e-9, step)
                segs = [((x, 0), (x, L.PAGE_H_MM)) for x in xs] + [((0, y), (L.PAGE_W_MM, y)) for y in ys]
                ax.add_collection(LineCollection(segs, colors=[np.asarray(colour) / 255],
                                                 linewidths=lw_mm * sx * pt, antialiaseds=True))
        ink = np.asarray(L.INK) / 255
        leads = tuple(leads)
        for base in L.row_baselines_mm(leads):
            ax.plot(*L.pulse_polyline_mm(base), color=ink, lw=line_px * pt, solid_joinstyle="miter",
                    solid_capstyle="projecting")
        size_pt = L.LABEL_SIZE_MM * sy * pt
        if L.LABEL_SIZE_MM * sy >= 4:
            for text, x, y in L.labels(leads):
                ax.text(x, y, text, fontsize=size_pt, family="DejaVu Sans", ha="left", va="baseline", color=ink)
        zeros = np.zeros((12, 5000), dtype=np.float32)
        self.lines = []
        for p in L.panels(leads):
            (line,) = ax.plot(L.panel_x_mm(p), L.panel_y_mm(p, zeros), color=ink, lw=line_px * pt,
                              solid_joinstyle="round", antialiased=True)
            self.lines.append((p, line))

    def render_one(self, signal: np.ndarray) -> np.ndarray:
        for p, line in self.lines:
            line.set_ydata(L.panel_y_mm(p, signal))
        self.canvas.draw()
        rgba = np.asarray(self.canvas.buffer_rgba())
        if rgba.shape[:2] != (self.height, self.width):
            raise RuntimeError(f"matplotlib canvas is {rgba.shape[1]}x{rgba.shape[0]}, not {self.width}x{self.height}")
        return np.ascontiguousarray(rgba[..., :3].transpose(2, 0, 1))

    def render(self, signals: np.ndarray) -> np.ndarray:
        out = np.empty((len(signals), 3, self.height, self.width), dtype=np.uint8)
        for i, s in enumerate(np.asarray(signals, dtype=np.float32)):
            out[i] = self.render_one(s)
        return out


def render_reference(signals: np.ndarray, width: int, height: int | None = None, **style) -> np.ndarray:
    """Pages for signals (n, 12, 5000) mV -> (n, 3, H, W) uint8, drawn by matplotlib (one reused figure)."""
    return ReferenceRenderer(width, height, **style).render(signals)
