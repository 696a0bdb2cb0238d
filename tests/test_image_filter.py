"""The image preprocessing keeps the fine-detail marker up to the resolution limit.

Same simulated patients rendered twice, with and without their fQRS notch (same noise draws: the batch's random
stream does not depend on the notch), so the difference of the two signals is the notch alone. The default "wide"
filter (0.5-150 Hz, no median) passes it whole; the PVC paper's 0.5-40 Hz + median 3 ("pvc") removes about half.
At 1024 px the notch visibly changes the printed page; at 128 px no pixel changes visibly, whatever the filter.
"""
from __future__ import annotations

import numpy as np
import pytest

from bench.data.simulator.generate import plan_cohort, render_batch
from representations.image import FILTERS, PaperImage

#: A pixel "visibly" differs when its grey level moves by a quarter of the paper-to-ink contrast or more (the
#: renderer anti-aliases, so any sub-pixel shift of a trace changes some grey levels by a few units).
VISIBLE = 64
INTERIOR = slice(250, -250)  # away from the filters' edge transients


@pytest.fixture(scope="module")
def notch_pairs():
    """(with notch, without notch) standardised signals (n, 12, 5000) of the first 6 fQRS patients of a cohort."""
    plan, _ = plan_cohort(60, 1)
    rows = plan[plan["_r_fqrs"]].drop_duplicates("patient_id").iloc[:6]
    assert len(rows) == 6
    _, with_notch, _ = render_batch(rows, 0, 1)
    _, without, _ = render_batch(rows.assign(_r_fqrs=False), 0, 1)
    return with_notch, without


def _notch_uv(diff: np.ndarray) -> np.ndarray:
    """Per ECG: the largest deflection of the notch over leads, in uV."""
    return 1000 * np.abs(diff[..., INTERIOR]).max(axis=(1, 2))


def test_the_planted_notch_is_tens_of_uv(notch_pairs):
    """25-50 uV along the heart vector; the leads facing it (precordial gains up to ~1.5) show 15-80 uV, typically
    20-50 uV (the file's quantisation adds a few uV)."""
    a, b = notch_pairs
    notch = _notch_uv(a.astype(np.float64) - b)
    assert np.all((notch > 15) & (notch < 80)), notch
    assert 20 < np.median(notch) < 50, notch


def test_wide_filter_passes_the_notch_and_pvc_filter_halves_it(notch_pairs):
    a, b = notch_pairs
    raw = _notch_uv(a.astype(np.float64) - b)
    kept = {f: _notch_uv(PaperImage(filter=f).preprocess(a).astype(np.float64) - PaperImage(filter=f).preprocess(b))
            / raw for f in FILTERS}
    assert np.all(kept["wide"] > 0.85), kept["wide"]
    assert np.median(kept["pvc"]) < 0.7, kept["pvc"]


def _visible_changes(a: np.ndarray, b: np.ndarray, width: int, filter_name: str) -> np.ndarray:
    rep = PaperImage(width=width, filter=filter_name, mode="grey")
    ia, ib = rep.transform(a)[:, 0].astype(int), rep.transform(b)[:, 0].astype(int)
    return (np.abs(ia - ib) >= VISIBLE).sum(axis=(1, 2))


def test_at_1024_px_the_notch_changes_the_page(notch_pairs):
    """Each ECG's page changes visibly in 20-330 pixels at 1024 px with the default filter. Contrasts: at 128 px no
    pixel changes visibly (the notch moves the trace by ~0.1 px), and the PVC paper's filter leaves fewer changed pixels."""
    a, b = notch_pairs
    wide_1024 = _visible_changes(a, b, 1024, "wide")
    assert np.all(wide_1024 >= 10), wide_1024
    assert np.all(_visible_changes(a, b, 128, "wide") == 0)
    assert np.all(_visible_changes(a, b, 128, "pvc") == 0)
    assert _visible_changes(a, b, 1024, "pvc").sum() < wide_1024.sum()


def test_presets_and_overrides():
    assert PaperImage().filter_settings() == (0.5, 150.0, 2, 1)
    assert PaperImage(filter="pvc").filter_settings() == (0.5, 40.0, 2, 3)
    assert PaperImage(filter="pvc", high_hz=100.0, median_kernel=1).filter_settings() == (0.5, 100.0, 2, 1)


@pytest.mark.parametrize("params, message", [
    ({"filter": "narrow"}, "filter must be one of ('wide', 'pvc'), not 'narrow'"),
    ({"high_hz": 260.0}, "high_hz=260"),
    ({"filter": "pvc", "low_hz": 45.0}, "low_hz=45, high_hz=40"),
    ({"median_kernel": 0}, "median_kernel must be a whole number"),
    ({"median_kernel": 2.5}, "median_kernel must be a whole number"),
])
def test_unknown_or_contradictory_filter_settings_are_refused(params, message):
    with pytest.raises(ValueError, match="image: ") as err:
        PaperImage(width=128, **params).transform(np.zeros((1, 12, 5000), np.float32))
    assert message in str(err.value)


def test_cost_probe_measures_ink_and_input_values(notch_pairs):
    """The editorial's white pixels: the traces ink a share of the page that halves as the width doubles (the trace
    is a line ~1 px wide while the page's area grows 4x), and input values are 3 x H x W for a page, 12 x 5000 for
    the raw matrix; a representation that is no page has no ink fraction."""
    from bench.harness.cache import representation_cost
    from representations import REPRESENTATIONS

    a, _ = notch_pairs
    costs = {w: representation_cost(PaperImage(width=w), a) for w in (128, 256, 512, 1024)}
    ink = np.array([costs[w]["ink_fraction"] for w in sorted(costs)])
    assert 0.03 < ink[0] < 0.25 and 0.005 < ink[-1] < 0.04, ink
    assert np.all((ink[1:] / ink[:-1] > 0.4) & (ink[1:] / ink[:-1] < 0.65)), ink
    for w, c in costs.items():
        assert c["input_values_per_ecg"] == int(np.prod(PaperImage(width=w).output_shape()))
    raw = representation_cost(REPRESENTATIONS.get("raw")(), a)
    assert raw["input_values_per_ecg"] == 12 * 5000 and "ink_fraction" not in raw
