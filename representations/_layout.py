"""The printed 12-lead page both renderers draw, in millimetres of paper (ECG image toolkit layout).

A US-letter landscape page (279.4 x 215.9 mm, the 1100 x 850 px aspect of 100 dpi prints): four rows 45 mm apart.
Rows 1-3 hold the 3 x 4 panels of 2.5 s each (columns I-II-III, aVR-aVL-aVF, V1-V2-V3, V4-V5-V6, each column the
next 2.5 s of the recording); row 4 is a 10 s lead II rhythm strip. 25 mm/s and 10 mm/mV; a 1 mm / 5 mm grid;
a 10 mm x 5 mm (1 mV x 0.2 s) calibration pulse at the left of every row; a lead label above each panel's start.
A lead subset (the `leads` parameter of `image`) is printed as one 10 s strip per lead, in the standard order, rows
evenly spaced down the page (the 12 x 1 print format; a single lead is one rhythm strip across the middle of the
page), each with its calibration pulse and label; the page size, and so the output size, stays the same.
Pixel geometry follows from the output size: x_px = x_mm * width / 279.4, y_px = y_mm * height / 215.9 (pixel c
covers [c, c + 1)), the same convention as matplotlib's Agg canvas.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bench.base.signal import FS, N_SAMPLES, STANDARD_LEADS

PAGE_W_MM = 279.4
PAGE_H_MM = 215.9
SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0
TRACE_X0_MM = 20.0
ROW_BASELINES_MM = (40.0, 85.0, 130.0, 175.0)
PANEL_S = 2.5
GRID_3X4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
RHYTHM_LEAD = "II"
LABEL_DX_MM, LABEL_DY_MM, LABEL_SIZE_MM = 1.0, 13.0, 3.5
PULSE_X_MM = (10.0, 12.0, 17.0, 19.0)  # baseline start, rise, fall, baseline end
#: Trace and grid styling, shared by both renderers (RGB; the grey mode has its own greys, kept lighter than 128
#: so that "dark pixel" means trace ink in either mode).
INK = (0, 0, 0)
BACKGROUND = {"colour": (255, 255, 255), "grey": (255, 255, 255)}
GRID_MINOR = {"colour": (255, 200, 200), "grey": (222, 222, 222)}
GRID_MAJOR = {"colour": (238, 110, 110), "grey": (170, 170, 170)}
GRID_MINOR_MM, GRID_MAJOR_MM = 0.1, 0.2  # grid line widths on paper
MIN_LINE_PX = 1.0


@dataclass(frozen=True)
class Panel:
    lead: str
    lead_index: int
    start: int  # first sample
    stop: int  # one past the last sample
    x0_mm: float
    baseline_mm: float


def row_baselines_mm(leads: tuple[str, ...] = STANDARD_LEADS) -> tuple[float, ...]:
    """Baseline of each printed row: the four rows of the 12-lead page, or one per lead of a subset, evenly spaced."""
    if leads == STANDARD_LEADS:
        return ROW_BASELINES_MM
    return tuple(PAGE_H_MM * (i + 1) / (len(leads) + 1) for i in range(len(leads)))


@lru_cache(maxsize=16)
def panels(leads: tuple[str, ...] = STANDARD_LEADS) -> tuple[Panel, ...]:
    """The traces of the page: for all 12 leads, 12 panels of 2.5 s (row-major) and the 10 s rhythm strip; for a
    subset (in the standard order), one 10 s strip per lead."""
    if leads != STANDARD_LEADS:
        return tuple(Panel(lead, STANDARD_LEADS.index(lead), 0, N_SAMPLES, TRACE_X0_MM, base)
                     for lead, base in zip(leads, row_baselines_mm(leads)))
    n = int(PANEL_S * FS)
    out = []
    for r, row in enumerate(GRID_3X4):
        for c, lead in enumerate(row):
            out.append(Panel(lead, STANDARD_LEADS.index(lead), c * n, (c + 1) * n,
                             TRACE_X0_MM + c * PANEL_S * SPEED_MM_S, ROW_BASELINES_MM[r]))
    out.append(Panel(RHYTHM_LEAD, STANDARD_LEADS.index(RHYTHM_LEAD), 0, N_SAMPLES, TRACE_X0_MM, ROW_BASELINES_MM[3]))
    return tuple(out)


def panel_x_mm(p: Panel) -> np.ndarray:
    """x (mm) of each sample of a panel."""
    return p.x0_mm + np.arange(p.stop - p.start) * (SPEED_MM_S / FS)


def panel_y_mm(p: Panel, signals: np.ndarray) -> np.ndarray:
    """y (mm, downwards) of a panel's samples for signals (..., 12, T) in mV."""
    return p.baseline_mm - GAIN_MM_MV * signals[..., p.lead_index, p.start:p.stop]


def pulse_polyline_mm(baseline_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Calibration pulse (1 mV high, 0.2 s wide) as a polyline ending back on the baseline."""
    a, b, c, d = PULSE_X_MM
    top = baseline_mm - GAIN_MM_MV
    return np.array([a, b, b, c, c, d]), np.array([baseline_mm, baseline_mm, top, top, baseline_mm, baseline_mm])


def labels(leads: tuple[str, ...] = STANDARD_LEADS) -> list[tuple[str, float, float]]:
    """(text, x_mm, baseline y_mm) of each lead label (left-aligned, text baseline at y)."""
    return [(p.lead, p.x0_mm + LABEL_DX_MM, p.baseline_mm - LABEL_DY_MM) for p in panels(leads)]


def label_boxes_px(width: int, height: int, leads: tuple[str, ...] = STANDARD_LEADS) -> list[tuple[int, int, int, int]]:
    """Generous pixel boxes (x0, y0, x1, y1) around each label, for masking text out of trace comparisons."""
    sx, sy = width / PAGE_W_MM, height / PAGE_H_MM
    boxes = []
    for text, x, y in labels(leads):
        w_mm = 0.8 * LABEL_SIZE_MM * len(text) + 1.5
        boxes.append((int(np.floor((x - 1.0) * sx)), int(np.floor((y - LABEL_SIZE_MM - 1.0) * sy)),
                      int(np.ceil((x + w_mm) * sx)) + 1, int(np.ceil((y + 1.0) * sy)) + 1))
    return boxes


def output_size(width: int, height: int | None = None) -> tuple[int, int]:
    """(width, height) in pixels; height follows the page's aspect ratio unless given."""
    width = int(width)
    if width < 16:
        raise ValueError(f"image width must be at least 16 px, not {width}")
    h = int(round(width * PAGE_H_MM / PAGE_W_MM)) if height is None else int(height)
    if h < 16:
        raise ValueError(f"image height must be at least 16 px, not {h}")
    return width, h


def line_width_px(line_width_mm: float, width: int) -> float:
    """Trace width in output pixels: the paper width scaled to the image, never thinner than one pixel so the
    trace survives small outputs."""
    return max(float(line_width_mm) * width / PAGE_W_MM, MIN_LINE_PX)


def trace_mask(images: np.ndarray, width: int, height: int,
               leads: tuple[str, ...] = STANDARD_LEADS) -> np.ndarray:
    """Trace pixels of rendered pages (n, 3, H, W) uint8 -> (n, H, W) bool.

    A trace pixel is dark in every channel (each < 128, i.e. ink covers more than about half the pixel on the
    white paper; grid lines never qualify, their red or grey channel staying above 128), outside the lead-label
    boxes (text is not trace).
    """
    m = (images < 128).all(axis=1)
    for x0, y0, x1, y1 in label_boxes_px(width, height, leads):
        m[:, max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = False
    return m


def tolerant_iou(a: np.ndarray, b: np.ndarray, tol: int = 1) -> float:
    """IoU of two pixel sets where a pixel of either set counts as shared when the other set has a pixel within
    `tol` px (chessboard distance, i.e. a (2 tol + 1)^2 dilation). tol = 0 is the plain IoU."""
    from scipy.ndimage import binary_dilation

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = a | b
    if not union.any():
        return 1.0
    if tol > 0:
        st = np.ones((1,) * (a.ndim - 2) + (2 * tol + 1, 2 * tol + 1), bool)
        shared = (a & binary_dilation(b, st)) | (b & binary_dilation(a, st))
    else:
        shared = a & b
    return float(shared.sum() / union.sum())
