"""The printed page: traces of known signals land where the layout says (lead boxes, 10 mm per mV), both renderers
agree on the trace pixels, and any output size draws a continuous trace."""
from __future__ import annotations

import numpy as np
import pytest

from bench.base.signal import STANDARD_LEADS
from bench.data.simulator import simulate
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



def test_fast_renderer_matches_reference_on_real_ecgs(shared_data):
    """The same fidelity on recorded ECGs (CinC 2021 and PTB records: noise, wander, tall QRS), per ECG."""
    from bench.data.readers import read_ecg
    from bench.data.standardise import standardise

    real = shared_data / "real"
    files = sorted((real / "cinc2021").glob("*.hea"))[:4] + sorted((real / "ptbdb").rglob("*.hea"))[:1]
    assert files, "no CinC 2021 / PTB records in the fixtures"
    x = PaperImage().preprocess(np.stack([np.asarray(standardise(read_ecg(f)).data, np.float32) for f in files]))
    width, height = L.output_size(1100)
    style = dict(line_px=L.line_width_px(0.3, width), grid=True, mode="colour")
    fast = L.trace_mask(render_fast(x, width, height, **style), width, height)
    ref = L.trace_mask(render_reference(x, width, height, **style), width, height)
    for i, f in enumerate(files):
        assert L.tolerant_iou(fast[i:i + 1], ref[i:i + 1], tol=0) >= 0.8, f.name
        assert L.tolerant_iou(fast[i:i + 1], ref[i:i + 1], tol=1) >= 0.95, f.name

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


def test_output_does_not_depend_on_threads(printed):
    """Pages are split across threads in contiguous chunks; every split gives the same bytes, also for a wide pen
    (the neighbour-column union) and above two columns per sample (upsampled points)."""
    for width, line_mm in ((512, 0.3), (1100, 1.0), (3000, 0.3)):
        width, height = L.output_size(width)
        style = dict(line_px=L.line_width_px(line_mm, width), grid=True, mode="colour")
        one = render_fast(printed, width, height, threads=1, **style)
        for threads in (2, 3, 8):
            assert np.array_equal(render_fast(printed, width, height, threads=threads, **style), one)
        # and each page is rendered on its own: a page's bytes do not depend on its batch
        assert np.array_equal(render_fast(printed[1:2], width, height, threads=1, **style)[0], one[1])


def test_wide_pen_covers_its_width():
    """A flat trace drawn with a 5 px pen inks 5 rows (interior rows fully), and a steep step stays continuous."""
    sig = np.zeros((1, 12, 5000), np.float32)
    sig[0, 1, 2500:] = 1.0
    width, height = L.output_size(1100)
    img = render_fast(sig, width, height, line_px=5.0, grid=False, mode="grey")[0, 0]
    sx, sy = width / L.PAGE_W_MM, height / L.PAGE_H_MM
    rhythm = L.panels()[-1]
    col = int((L.TRACE_X0_MM + 20) * sx)
    r0 = int((rhythm.baseline_mm - 15) * sy)
    band = img[r0:int((rhythm.baseline_mm + 5) * sy)]
    inked = r0 + np.flatnonzero(band[:, col] < 128)
    assert len(inked) == 5 and np.all(img[inked[1:-1], col] == 0)
    assert abs((inked.mean() + 0.5) - rhythm.baseline_mm * sy) <= 0.5
    step = int((L.TRACE_X0_MM + 125) * sx)
    assert ((band[:, step - 3:step + 4] < 128).sum(axis=1) > 0).sum() >= int(10 * sy)  # the whole 10 mm rise


def test_traces_meeting_in_a_column_composite():
    """Where two traces ink the same pixels, both inks count: a 5 mV dip of lead I runs down through lead II's row,
    and the pixels its pen fully covers stay fully inked where lead II's thin trace (partial end pixels) crosses.
    Writing each trace's pixels over the page as it was before (last write wins) lightened them."""
    sig = np.zeros((1, 12, 5000), np.float32)
    sig[0, 0, 600:640] = -5.0  # lead I's panel: 50 mm down from 40 mm, through the 85 mm baseline of row 2
    for width in (512, 1100):
        width, height = L.output_size(width)
        img = render_fast(sig, width, height, line_px=1.0, grid=False, mode="grey")[0, 0]
        sx, sy = width / L.PAGE_W_MM, height / L.PAGE_H_MM
        edge = int((L.TRACE_X0_MM + 600 * L.SPEED_MM_S / 500) * sx)  # the falling edge's column
        cols = [c for c in range(edge - 1, edge + 2) if (img[int(50 * sy):int(80 * sy), c] == 0).all()]
        assert cols, "no fully inked vertical stroke at the edge"
        rows = slice(int(np.ceil(41 * sy)), int(89 * sy))
        crossing = img[int(84 * sy):int(86 * sy) + 1, :]
        assert (crossing < 255).any(axis=0)[edge + 5]  # lead II's trace runs across this column range
        for c in cols:
            assert (img[rows, c] == 0).all(), img[rows, c]


def test_render_fast_refuses_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(n, 12, 5000\)"):
        render_fast(np.zeros((2, 8, 5000), np.float32), 224)


def test_recycled_page_buffers_never_alias_live_pages(printed):
    """Large outputs come from a pool of recycled buffers: a buffer is reused only once every array viewing it is
    gone, so a page held by the caller (or a view of it) is never overwritten by a later batch."""
    width, height = L.output_size(1100)  # 2.8 MB a page: 3 pages are over the pool's 4 MB floor
    style = dict(line_px=L.line_width_px(0.3, width), grid=True, mode="colour")
    first = render_fast(printed, width, height, **style)
    kept = first.copy()
    view = first[1, 0]  # only a view survives
    del first
    flat = np.zeros_like(printed)
    for _ in range(4):
        later = render_fast(flat, width, height, **style)
        assert not np.shares_memory(later, view)
    assert np.array_equal(view, kept[1, 0])
    del view, later
    again = [render_fast(flat, width, height, **style) for _ in range(3)]  # buffers come back once released
    assert all(np.array_equal(a, again[0]) for a in again) and not np.shares_memory(again[0], again[1])
    addresses = {a.ctypes.data for a in again}
    del again
    assert render_fast(flat, width, height, **style).ctypes.data in addresses
