"""Every registered representation honours the scikit-learn transformer contract; then per-representation behaviour
on simulated ECGs (z-scoring, image sizes and styles, DWT+PCA fitted on the training split only)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from bench.data.simulator import simulate
from representations import REPRESENTATIONS
from representations._layout import output_size, tolerant_iou, trace_mask
from representations.dwt_pca import DwtPca
from representations.image import PaperImage
from representations.raw import Raw

DTYPES = {"sequence": np.float32, "vector": np.float32, "image": np.uint8}
SMALL = {"image": {"width": 160}}  # keep the contract checks quick


@pytest.fixture(scope="module")
def signals() -> np.ndarray:
    _, sig, _ = simulate(8, seed=5)
    return np.ascontiguousarray(sig[:12])


@pytest.mark.parametrize("name", REPRESENTATIONS.names())
def test_contract(name, signals):
    entry = REPRESENTATIONS.entry(name)
    rep = entry.obj(**SMALL.get(name, {}))
    assert entry.info["kind"] == rep.kind and rep.name == name
    fresh = clone(rep)
    assert fresh.get_params() == rep.get_params() and fresh is not rep
    fitted = clone(rep).fit(signals[:8])
    assert fitted is not None
    out = fitted.transform(signals)
    assert out.shape == (len(signals), *fitted.output_shape())
    assert out.dtype == DTYPES[rep.kind]
    if rep.kind == "image":
        assert out.shape[1] == 3
    else:
        assert np.isfinite(out).all()
    # deterministic: a fresh clone fitted on the same rows gives the same output, row by row as in batch
    again = clone(rep).fit(signals[:8]).transform(signals)
    np.testing.assert_array_equal(out, again)
    np.testing.assert_allclose(fitted.transform(signals[3:4])[0], out[3], atol=1e-5)
    # nothing fitted is carried by a clone
    assert not [k for k in vars(clone(fitted)) if k.endswith("_") and not k.startswith("_")]
    if rep.fits_data:
        assert [k for k in vars(fitted) if k.endswith("_") and not k.startswith("_")]


def test_raw_normalisations(signals):
    z = Raw(normalise="ecg").transform(signals)
    np.testing.assert_allclose(z.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(1, 2)), 1, atol=1e-3)
    lead = Raw(normalise="lead").transform(signals)
    np.testing.assert_allclose(lead.std(axis=2), 1, atol=1e-3)
    np.testing.assert_array_equal(Raw(normalise="none").transform(signals), signals)
    np.testing.assert_array_equal(Raw().transform(signals), signals)  # default: millivolts, absolute voltage kept
    flat = Raw(normalise="ecg").transform(np.zeros((1, 12, 5000), np.float32))
    assert np.isfinite(flat).all()
    with pytest.raises(ValueError, match="normalise"):
        Raw(normalise="minmax").transform(signals)


@pytest.mark.parametrize("width,height", [(224, None), (333, None), (300, 300), (97, None)])
def test_image_any_size(width, height, signals):
    rep = PaperImage(width=width, height=height)
    out = rep.transform(signals[:2])
    w, h = output_size(width, height)
    assert out.shape == (2, 3, h, w) == (2, *rep.output_shape())
    if height is None:
        assert abs(h / w - 215.9 / 279.4) < 1.0 / w + 1e-9
    assert (out < 128).all(axis=1).sum() > 2 * 4 * 0.7 * w  # four traces of ink per page


def test_image_styles(signals):
    grey = PaperImage(width=256, mode="grey").transform(signals[:1])
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()
    colour = PaperImage(width=256).transform(signals[:1])
    # a red grid: at 256 px its 0.1-0.2 mm lines are sub-pixel, so it shows as a pink tint (as a scan would)
    assert colour[:, 0].mean() - colour[:, 2].mean() > 5
    big = PaperImage(width=1024).transform(signals[:1])
    assert (big[:, 0].astype(int) - big[:, 2]).max() > 60
    plain = PaperImage(width=256, grid=False).transform(signals[:1])
    ink = (plain < 128).all(axis=1)
    assert ((plain[0] == 255).all(axis=0) | ink[0]).mean() > 0.97  # paper is white without the grid
    assert (plain[0, :, 0, :] == 255).all()  # the top row of the page is bare paper
    thick = PaperImage(width=256, line_width_mm=3.0, grid=False).transform(signals[:1])
    assert (thick < 128).all(axis=1).sum() > 1.5 * ink.sum()
    with pytest.raises(ValueError, match="mode"):
        PaperImage(mode="sepia").transform(signals[:1])
    ref = PaperImage(width=256, renderer="reference").transform(signals[:1])
    assert ref.shape == colour.shape and ref.dtype == np.uint8
    assert tolerant_iou(trace_mask(ref, 256, 198), trace_mask(colour, 256, 198), 1) > 0.8


def test_image_preprocessing_removes_wander(signals):
    rep = PaperImage(width=200)
    drift = 2.0 * np.sin(2 * np.pi * 0.1 * np.arange(5000) / 500)
    drifting = (signals[:1] + drift.astype(np.float32)).astype(np.float32)
    a, b = rep.preprocess(signals[:1]), rep.preprocess(drifting)
    assert np.abs(a - b)[..., 500:-500].max() < 0.35  # 2 mV of 0.1 Hz wander mostly gone after 0.5 Hz high-pass



def test_image_preprocessing_does_not_depend_on_the_thread_split(signals, monkeypatch):
    """The batch is filtered in chunks across threads; every split gives the very same values as filtering the
    whole batch at once, and one ECG (leads, T) is filtered as in a batch."""
    from representations._filters import bandpass, median_filter

    rep = PaperImage()
    x = signals[:5]
    low_hz, high_hz, order, median = rep.filter_settings()
    whole = median_filter(bandpass(x, low_hz, high_hz, order), median)
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        assert np.array_equal(rep.preprocess(x), whole)
    assert np.allclose(rep.preprocess(x[2]), whole[2], atol=1e-6)


def test_dwt_pca_transform_does_not_depend_on_the_thread_split(signals, monkeypatch):
    rep = DwtPca().fit(signals)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one = rep.transform(signals)
    for threads in ("2", "3"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        assert np.array_equal(rep.transform(signals), one)
    assert np.array_equal(rep.transform(signals[3:4]), one[3:4])

def test_dwt_pca_shapes_and_scaling(signals):
    det = DwtPca().fit(signals)
    f = det.transform(signals)
    assert f.shape == (len(signals), 28)
    np.testing.assert_allclose(f.mean(axis=0), 0, atol=1e-4)  # scaled on these (training) rows
    loc = DwtPca(n_components=8, wavelet="sym5", level=4).fit(signals)
    assert loc.transform(signals).shape == (len(signals), 32) and loc.pca_.n_components_ == 8
    with pytest.raises(RuntimeError, match="before fit"):
        DwtPca().transform(signals)


def test_dwt_pca_fit_sees_training_rows_only(signals, monkeypatch):
    """The PCA and scaler are learnt from the rows given to fit: test rows never reach them, and changing the test
    rows does not change any fitted value nor the training rows' features."""
    seen: list[np.ndarray] = []
    real_fit = DwtPca.fit

    def spy(self, X, y=None):
        seen.append(np.asarray(X).copy())
        return real_fit(self, X, y)

    monkeypatch.setattr(DwtPca, "fit", spy)
    train, test = signals[:8], signals[8:]
    rep = clone(DwtPca()).fit(train)
    assert len(seen) == 1 and seen[0].shape == train.shape
    test_hashes = {hash(t.tobytes()) for t in test}
    assert not any(hash(s.tobytes()) in test_hashes for s in seen[0])
    other = clone(DwtPca()).fit(train)
    poisoned = np.concatenate([train, 50 * test[::-1]])
    np.testing.assert_array_equal(rep.pca_.components_, other.pca_.components_)
    np.testing.assert_allclose(other.transform(poisoned)[:8], rep.transform(train), atol=1e-6)
    # fitted on all rows it differs: the check above can fail
    everything = clone(DwtPca()).fit(np.concatenate([train, 50 * test]))
    assert not np.allclose(everything.scaler_.mean_, rep.scaler_.mean_)
