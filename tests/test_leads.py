"""Lead subsets (`leads` parameter of raw, image and dwt_pca) on real PTB-XL ECGs: the kept channels, a printed
page with only those leads (a single lead is one rhythm strip), features of those leads, one-line errors."""
from __future__ import annotations

import numpy as np
import pytest

from bench.base.signal import STANDARD_LEADS
from bench.data.sources.common import read_standardised
from representations import _layout as L
from representations._leads import INDEPENDENT_LEADS
from representations._render_fast import render_fast
from representations._render_reference import render_reference
from representations.dwt_pca import DwtPca
from representations.image import PaperImage
from representations.raw import Raw


@pytest.fixture(scope="module")
def ecgs(shared_data) -> np.ndarray:
    """Eight real PTB-XL ECGs (100 Hz records), standardised to (8, 12, 5000) mV."""
    root = shared_data / "real" / "ptbxl_subset" / "records100" / "00000"
    files = sorted(root.glob("*_lr.hea"))[:8]
    if len(files) < 8:
        pytest.skip(f"PTB-XL subset records not found under {root}")
    return np.stack([read_standardised(f) for f in files])


def test_raw_keeps_the_named_channels(ecgs):
    for leads in (["I"], list(INDEPENDENT_LEADS), ["V6", "I"]):
        rep = Raw(normalise="none", leads=leads)
        out = rep.transform(ecgs)
        idx = [STANDARD_LEADS.index(n) for n in STANDARD_LEADS if n in leads]  # standard order
        assert out.shape == (len(ecgs), len(leads), 5000) == (len(ecgs), *rep.output_shape())
        np.testing.assert_array_equal(out, ecgs[:, idx])
    z = Raw(normalise="ecg", leads=["II"]).transform(ecgs)  # "ecg" pools the kept lead only
    np.testing.assert_allclose(z.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(1, 2)), 1, atol=1e-3)
    # all 12 named = the default (up to summation order: the reductions run on a copy)
    np.testing.assert_allclose(Raw().transform(ecgs), Raw(leads=list(STANDARD_LEADS)).transform(ecgs), atol=1e-5)


def strip_bands(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) rows of each run of rows holding ink."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) > 1)
    return list(zip(rows[np.r_[0, breaks + 1]], rows[np.r_[breaks, len(rows) - 1]]))


@pytest.mark.parametrize("lead", ["I", "II", "V2"])
def test_single_lead_image_is_one_rhythm_strip(ecgs, lead):
    rep = PaperImage(width=512, leads=[lead])
    img = rep.transform(ecgs)
    assert img.shape == (len(ecgs), *rep.output_shape()) == (len(ecgs), 3, 396, 512)
    w, h = 512, 396
    sx, sy = w / L.PAGE_W_MM, h / L.PAGE_H_MM
    (p,) = L.panels((lead,))
    assert (p.start, p.stop) == (0, 5000)  # the whole 10 s
    mask = L.trace_mask(img, w, h, (lead,))
    for m in mask:
        (top, bottom), = strip_bands(m)  # one strip, nothing else printed
        assert top <= p.baseline_mm * sy <= bottom
        cols = np.flatnonzero(m.any(axis=0))
        assert cols.min() <= L.PULSE_X_MM[0] * sx + 1 and cols.max() >= (p.x0_mm + 250) * sx - 2  # pulse + 10 s
    full = L.trace_mask(PaperImage(width=512).transform(ecgs[:1]), w, h)[0]
    assert len(strip_bands(full)) > 1


def constant_leads() -> tuple[np.ndarray, np.ndarray]:
    levels = 0.08 * np.arange(1, 13, dtype=np.float32)
    return np.repeat(levels[:, None], 5000, axis=1)[None], levels


@pytest.mark.parametrize("renderer", [render_fast, render_reference])
def test_lead_subset_strips_land_at_their_level(renderer):
    """Each lead of the 8 independent ones, flat at its own level, is drawn 10 mm/mV above its strip's baseline."""
    sig, levels = constant_leads()
    width, height = L.output_size(800)
    leads = INDEPENDENT_LEADS
    img = renderer(sig, width, height, line_px=1.5, grid=False, mode="grey", leads=leads)
    mask = L.trace_mask(img, width, height, leads)[0]
    sx, sy = width / L.PAGE_W_MM, height / L.PAGE_H_MM
    panels = L.panels(leads)
    assert [p.lead for p in panels] == list(leads)
    c0, c1 = int(np.ceil(L.TRACE_X0_MM * sx)) + 2, int((L.TRACE_X0_MM + 250) * sx) - 2
    for p in panels:
        r0, r1 = int((p.baseline_mm - 10) * sy), int((p.baseline_mm + 5) * sy)
        band = mask[r0:r1, c0:c1]
        assert band.any(axis=0).all(), p.lead
        got = (band * np.arange(r0, r1)[:, None]).sum(0) / band.sum(0)
        expected = (p.baseline_mm - L.GAIN_MM_MV * levels[p.lead_index]) * sy
        assert np.abs(got + 0.5 - expected).max() <= 0.75, p.lead
    assert len(strip_bands(mask[:, c0:c1])) == len(leads)


def test_dwt_pca_features_of_the_subset(ecgs):
    one = DwtPca(leads=["I"], n_components=1).fit(ecgs)
    assert one.transform(ecgs).shape == (len(ecgs), 4) and one.pca_.n_features_in_ == 1
    eight = DwtPca(leads=list(INDEPENDENT_LEADS)).fit(ecgs)
    assert eight.transform(ecgs).shape == (len(ecgs), 28) and eight.pca_.n_features_in_ == 8
    # the subset's features are those of the leads kept: dropping the others from the input changes nothing
    only = np.zeros_like(ecgs)
    keep = [STANDARD_LEADS.index(n) for n in INDEPENDENT_LEADS]
    only[:, keep] = ecgs[:, keep]
    np.testing.assert_allclose(eight.transform(only), eight.transform(ecgs), atol=1e-5)
    with pytest.raises(ValueError, match="n_components 7 exceeds the 1 lead"):
        DwtPca(leads=["I"]).fit(ecgs)


@pytest.mark.parametrize("rep", [Raw(leads=["I", "V7"]), PaperImage(width=64, leads=["avr"]),
                                 DwtPca(leads=["Lead I"], n_components=1)])
def test_unknown_lead_names_raise_one_line_listing_valid_names(ecgs, rep):
    with pytest.raises(ValueError) as e:
        rep.fit(ecgs[:2]).transform(ecgs[:2])
    msg = str(e.value)
    assert "\n" not in msg and "unknown lead" in msg and ", ".join(STANDARD_LEADS) in msg
