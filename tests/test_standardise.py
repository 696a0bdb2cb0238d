"""standardise: lead order and derivation, Einthoven check, polyphase resampling from any rate, crop/pad rule."""
from __future__ import annotations

import numpy as np
import pytest

from bench.base.errors import ECGValidationError
from bench.base.signal import STANDARD_LEADS, Signal
from bench.data.standardise import standardise


def beat_train(fs: float, seconds: float, hr: float = 72.0, seed: int = 0) -> np.ndarray:
    """Two independent limb-lead dipole components (I, II) and six chest leads: narrow QRS spikes + T waves."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(fs * seconds))) / fs
    phase = (t * hr / 60.0) % 1.0
    qrs = np.exp(-0.5 * ((phase - 0.3) / 0.012) ** 2)
    twave = np.exp(-0.5 * ((phase - 0.6) / 0.05) ** 2)
    gains = rng.uniform(0.4, 1.6, size=(8, 2)) * rng.choice([-1, 1], size=(8, 2))
    return (gains[:, :1] * qrs + 0.25 * gains[:, 1:] * twave).astype(np.float32)  # (8, n): I, II, V1..V6


def make_signal(fs: float, seconds: float, *, twelve: bool = False, seed: int = 0) -> Signal:
    x = beat_train(fs, seconds, seed=seed)
    i, ii, v = x[0], x[1], x[2:]
    if twelve:
        limb = [i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2]
        return Signal(np.vstack([np.stack(limb), v]).astype(np.float32), fs, STANDARD_LEADS)
    return Signal(np.vstack([i, ii, v]), fs, ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"))


def test_eight_stored_leads_give_twelve_in_house_order():
    sig = make_signal(500, 10)
    out = standardise(sig)
    assert out.data.shape == (12, 5000) and out.data.dtype == np.float32
    assert out.leads == STANDARD_LEADS and out.fs == 500
    i, ii = sig.data[0], sig.data[1]
    np.testing.assert_allclose(out.data[2], ii - i, atol=1e-6)
    np.testing.assert_allclose(out.data[3], -(i + ii) / 2, atol=1e-6)
    np.testing.assert_allclose(out.data[4], i - ii / 2, atol=1e-6)
    np.testing.assert_allclose(out.data[5], ii - i / 2, atol=1e-6)
    np.testing.assert_array_equal(out.data[6:], sig.data[2:])
    rec = out.meta["standardise"]
    assert rec["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    assert rec["resampled_from"] is None and rec["rule"] == "none"


def test_lead_i_derived_from_ii_and_iii():
    full = make_signal(500, 10, twelve=True)
    keep = [k for k in range(12) if STANDARD_LEADS[k] != "I"]
    sig = Signal(full.data[keep], 500, tuple(STANDARD_LEADS[k] for k in keep))
    out = standardise(sig)
    np.testing.assert_allclose(out.data[0], full.data[0], atol=1e-5)
    assert out.meta["standardise"]["derived_leads"] == ["I"]


@pytest.mark.parametrize("keep", [("II", "aVL"), ("aVR", "aVL"), ("III", "aVF", "aVR")])
def test_i_and_ii_solved_from_any_two_independent_limb_leads(keep):
    full = make_signal(500, 10, twelve=True)
    rows = [STANDARD_LEADS.index(k) for k in keep] + list(range(6, 12))
    out = standardise(Signal(full.data[rows], 500, tuple(STANDARD_LEADS[k] for k in rows)))
    np.testing.assert_allclose(out.data[:6], full.data[:6], atol=1e-5)
    assert set(out.meta["standardise"]["derived_leads"]) == set(STANDARD_LEADS[:6]) - set(keep)


def test_one_limb_lead_is_not_enough():
    full = make_signal(500, 10, twelve=True)
    sig = Signal(full.data[[3] + list(range(6, 12))], 500, ("aVR",) + STANDARD_LEADS[6:])
    with pytest.raises(ECGValidationError, match="independent") as info:
        standardise(sig)
    assert info.value.check == "missing_lead"


def test_consistent_limb_leads_pass_and_swapped_leads_are_flagged():
    good = standardise(make_signal(500, 10, twelve=True))
    assert good.meta["standardise"]["einthoven_residual"] < 1e-6
    assert not any("Einthoven" in w for w in good.warnings)
    bad = make_signal(500, 10, twelve=True)
    bad.data[[0, 1]] = bad.data[[1, 0]]  # I and II electrodes swapped
    out = standardise(bad)
    assert out.meta["standardise"]["einthoven_residual"] > 0.1 and out.meta["standardise"]["limb_leads_inconsistent"]
    assert any("Einthoven" in w for w in out.warnings)
    assert not good.meta["standardise"]["limb_leads_inconsistent"]


@pytest.mark.parametrize("fs", [100, 250, 599.88, 1000])
def test_resampling_keeps_waveform(fs):
    """Resampled beats line up with beats generated directly at 500 Hz (same timing, same amplitude)."""
    out = standardise(make_signal(fs, 10))
    ref = make_signal(500, 10).data
    rec = out.meta["standardise"]
    assert rec["resampled_from"] == fs and abs(rec["rate_error"]) < 1e-3
    assert out.data.shape == (12, 5000)
    # compare the QRS-bearing chest leads away from the edges; 100 Hz cannot hold a 12 ms QRS, so only correlate
    a, b = out.data[6:, 200:-200], ref[2:, 200:-200]
    corr = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)]
    assert min(corr) > (0.9 if fs == 100 else 0.99)
    if fs >= 250:
        np.testing.assert_allclose(np.abs(a).max(axis=1), np.abs(b).max(axis=1), rtol=0.1)


def test_long_record_is_centre_cropped_and_short_one_end_padded():
    long = make_signal(500, 12)
    out = standardise(long)
    rec = out.meta["standardise"]
    assert rec["crop_samples"] == 1000 and "centre" in rec["rule"]
    np.testing.assert_array_equal(out.data[6:], long.data[2:, 500:5500])
    short = make_signal(500, 9)
    out = standardise(short)
    rec = out.meta["standardise"]
    assert rec["pad_samples"] == 500 and "pad" in rec["rule"]
    np.testing.assert_array_equal(out.data[6:, :4500], short.data[2:])
    assert (out.data[6:, 4500:] == short.data[2:, -1:]).all()


def test_missing_chest_lead_or_rate_is_a_validation_error():
    sig = make_signal(500, 10)
    sig.data, sig.leads = sig.data[:-1], sig.leads[:-1]
    with pytest.raises(ECGValidationError, match="V6"):
        standardise(sig)
    sig = make_signal(500, 10)
    sig.fs = 0
    with pytest.raises(ECGValidationError, match="rate"):
        standardise(sig)


def test_real_ptb_record_standardises(shared_data):
    from bench.data.readers import read_ecg

    out = standardise(read_ecg(shared_data / "real/ptbdb/s0010_re.hea"))
    rec = out.meta["standardise"]
    assert out.data.shape == (12, 5000) and rec["resampled_from"] == 1000.0 and rec["up"] == 1 and rec["down"] == 2
    assert rec["einthoven_residual"] < 0.05
