"""The printed page: traces of known signals land where the layout says (lead boxes, 10 mm per mV), both renderers
agree on the trace pixels, and any output size draws a continuous trace."""
from __future__ import annotations

import numpy as np
import pytest

from bench.signal import STANDARD_LEADS
from bench.simulator import simulate
from representations import _layout as L
from representations._render_fast import render_fast
from representations._render_reference import render_reference
from representations.image import PaperImage

RENDERERS = {"fast": render_fast, "reference": render_reference}


def constant_leads() -> tuple[np.ndarray, np.ndarray]:
    """Every lead flat at its own level (0.08 .. 0.96 mV, clear of the labels above)."""
    levels = 0.08 * np.arange(1, 13, dtype=np.float32)
    return np.repeat(levels[:, None], 5000, axis=1)[None], levels


def panel_rows(mask: np.ndarray, p: L.Panel, width: int, height: int) -> np.ndarray:
    """Mean trace row (px) in each inner column of panel p, searched within its row band."""
    sx, sy = width / L.PAGE_W_MM, height / L.PAGE_H_MM
    c0 = int(np.ceil(p.x0_mm * sx)) + 2
    c1 = int(np.floor((p.x0_mm + (p.stop - p.start) * L.SPEED_MM_S / 500) * sx)) - 2
    r0, r1 = int((p.baseline_mm - 20) * sy), int((p.baseline_mm + 20) * sy)
    band = mask[r0:r1, c0:c1]
    assert band.any(axis=0).all(), f"lead {p.lead}: columns without trace"
    rows = np.arange(r0, r1)[:, None]
    return (band * rows).sum(axis=0) / band.sum(axis=0)


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
@pytest.mark.parametrize("width", [512, 1100])
def test_trace_lands_in_its_lead_box(renderer, width):
    sig, levels = constant_leads()
    width, height = L.output_size(width)
    img = RENDERERS[renderer](sig, width, height, line_px=1.5, grid=False, mode="grey")
    mask = L.trace_mask(img, width, height)[0]
    sy = height / L.PAGE_H_MM
    for p in L.panels():
        level = levels[STANDARD_LEADS.index(p.lead)]
        expected = (p.baseline_mm - L.GAIN_MM_MV * level) * sy  # 10 mm per mV above the row's baseline
        got = panel_rows(mask, p, width, height)
        # a 1.5 px line centred at y darkens the one or two pixels whose centres (row + 0.5) are nearest y
        assert np.abs(got + 0.5 - expected).max() <= 0.75, (p.lead, got.mean(), expected)
    # nothing drawn between the rows' bands, beyond the labels and pulses
    gap = mask[int(57 * sy):int(64 * sy)]
    assert not gap.any()


def test_gain_and_speed_of_a_step():
    """A 1 mV step at 1 s in lead II: 10 mm tall on the rhythm strip, 25 mm right of the trace start."""
    sig = np.zeros((1, 12, 5000), np.float32)
    sig[0, 1, 500:] = 1.0
    width, height = L.output_size(1100)
    mask = L.trace_mask(render_fast(sig, width, height, grid=False, mode="grey"), width, height)[0]
    sx, sy = width / L.PAGE_W_MM, height / L.PAGE_H_MM
    rhythm = L.panels()[-1]
    rows = np.arange(height)[:, None]
    band = slice(int((rhythm.baseline_mm - 20) * sy), int((rhythm.baseline_mm + 5) * sy))
    m = mask[band]
    y = (m * rows[band]).sum(0) / np.maximum(m.sum(0), 1)
    before = y[int((L.TRACE_X0_MM + 5) * sx):int((L.TRACE_X0_MM + 20) * sx)].mean()
    after = y[int((L.TRACE_X0_MM + 30) * sx):int((L.TRACE_X0_MM + 60) * sx)].mean()
    assert abs((before - after) / sy - 10.0) < 0.3  # mm per mV
    step_col = np.flatnonzero(m.sum(0) > 10)
    step_col = step_col[step_col > (L.TRACE_X0_MM + 1) * sx]  # skip the calibration pulse
    assert abs(step_col.mean() / sx - (L.TRACE_X0_MM + 25.0)) < 0.5


def test_calibration_pulse_is_one_millivolt():
    width, height = L.output_size(1100)
    img = render_fast(np.zeros((1, 12, 5000), np.float32), width, height, grid=False, mode="grey")
    mask = L.trace_mask(img, width, height)[0]
    sx, sy = width / L.PAGE_W_MM, height / L.PAGE_H_MM
    cols = slice(int(12.5 * sx), int(16.5 * sx))  # the pulse's flat top
    for base in L.ROW_BASELINES_MM:
        rows = np.flatnonzero(mask[:, cols].any(axis=1))
        rows = rows[(rows > (base - 15) * sy) & (rows < (base + 5) * sy)]
        assert abs((rows.mean() + 0.5) / sy - (base - 10.0)) < 0.3


@pytest.fixture(scope="module")
def printed() -> np.ndarray:
    _, sig, _ = simulate(4, seed=2)
    return PaperImage().preprocess(sig[:3])


@pytest.mark.parametrize("width", [448, 512, 1100])
def test_fast_renderer_matches_reference(width, printed):
    """Fidelity: the trace pixels of the two renderers agree: plain pixel IoU >= 0.8, and >= 0.95 with a 1 px
    tolerance; the fast renderer inks about as many trace pixels as matplotlib (within 15 %)."""
    width, height = L.output_size(width)
    style = dict(line_px=L.line_width_px(0.3, width), grid=True, mode="colour")
    fast = L.trace_mask(render_fast(printed, width, height, **style), width, height)
    ref = L.trace_mask(render_reference(printed, width, height, **style), width, height)
    assert fast.sum() > 0.85 * ref.sum() and ref.sum() > 0.85 * fast.sum()
    assert L.tolerant_iou(fast, ref, tol=1) >= 0.95
    assert L.tolerant_iou(fast, ref, tol=0) >= 0.8


def test_tolerant_iou():
    a = np.zeros((1, 20, 20), bool)
    a[0, 10, 2:18] = True
    b = np.roll(a, 1, axis=1)
    assert L.tolerant_iou(a, b, tol=0) == 0.0
    assert L.tolerant_iou(a, b, tol=1) == 1.0
    c = np.roll(a, 3, axis=1)
    assert L.tolerant_iou(a, c, tol=1) == 0.0
    assert L.tolerant_iou(a, a | c, tol=0) == 0.5


@pytest.mark.parametrize("width", [64, 2800])
def test_extreme_sizes_draw_continuous_traces(width):
    """Below one column per 10 samples and above two columns per sample (linear upsampling) the trace stays
    continuous in every panel."""
    t = np.arange(5000) / 500
    sig = np.repeat((0.5 * np.sin(2 * np.pi * 1.3 * t)).astype(np.float32)[None, None], 12, axis=1)
    width, height = L.output_size(width)
    mask = L.trace_mask(render_fast(sig, width, height, grid=False), width, height)[0]
    if width > 1000:
        for p in L.panels():
            panel_rows(mask, p, width, height)
        # runs are short (no stray spans): the sine's slope is < 0.2 px per column, so <= 3 px per row of traces
        traces = mask[:, int((L.TRACE_X0_MM + 1) * width / L.PAGE_W_MM):]
        assert traces.sum(axis=0).max() <= 4 * 3
    else:
        assert mask.any(axis=0)[int(L.TRACE_X0_MM * width / L.PAGE_W_MM) + 1:
                                int(269 * width / L.PAGE_W_MM)].all()
