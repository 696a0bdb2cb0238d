"""Validation checks on a real 12-lead record altered the way broken exports are: which are errors, which warnings."""
from __future__ import annotations

import numpy as np
import pytest

from bench.base.errors import ECGValidationError
from bench.data.readers import read_ecg
from bench.base.signal import Signal
from bench.data.validate import normalise_leads, reject_filler, mark_calibration, validate


@pytest.fixture()
def real(shared_data) -> Signal:
    return read_ecg(shared_data / "real/cinc2021/HR06000.hea")


def _copy(sig: Signal, data=None, leads=None) -> Signal:
    return Signal(np.array(sig.data if data is None else data, dtype=np.float32), sig.fs,
                  tuple(sig.leads if leads is None else leads), path="x.ecg")


def test_real_record_passes_without_warnings(real):
    out = validate(_copy(real))
    assert out.warnings == []


def test_quiet_lead_with_baseline_at_its_maximum_is_not_saturated(real):
    x = real.data.copy()
    avr = x[3] - np.median(x[3])
    x[3] = np.round(np.minimum(avr, 0.004) * 0.3 / 0.0049) * 0.0049  # all waves negative, coarse 4.9 uV steps
    validate(_copy(real, x))


def test_clipped_lead_is_saturated(real):
    x = real.data.copy()
    t = np.arange(x.shape[1]) / real.fs
    x[7] = np.clip(x[7] + 3.0 * np.sin(2 * np.pi * 0.1 * t), None, 1.5)  # wander drives V2 into its 1.5 mV rail
    with pytest.raises(ECGValidationError) as info:
        validate(_copy(real, x))
    assert info.value.check == "saturated" and "V2" in str(info.value)


def test_short_clipping_spikes_and_offsets_are_warnings(real):
    x = real.data.copy()
    x[0, 1000:1100] = x[0].max()  # 0.2 s held at the maximum
    x[6, 2000] = 30.0  # one-sample spike
    x[8] += 3.0  # DC offset
    out = validate(_copy(real, x))
    text = " ".join(out.warnings)
    assert "lead I: clipped" in text and "lead V1: spike" in text and "lead V3: baseline offset" in text


def test_lead_names_unknown_duplicate_and_extra(real):
    names = list(real.leads)
    with pytest.raises(ECGValidationError, match="unknown lead") as info:
        normalise_leads(_copy(real, leads=names[:11] + ["QQ"]))
    assert info.value.check == "unknown_lead"
    with pytest.raises(ECGValidationError) as info:
        normalise_leads(_copy(real, leads=names[:11] + ["v5"]))
    assert info.value.check == "duplicate_lead"
    extra = _copy(real, np.vstack([real.data, real.data[:1]]), [n.upper() for n in names] + ["V4R"])
    out = normalise_leads(extra)
    assert out.leads == real.leads and out.meta["dropped_leads"] == ["V4R"] and out.data.shape[0] == 12


def test_calibration_pulse_and_padding_marked_and_left_out_by_standardise(real):
    from bench.data.standardise import standardise

    x = np.concatenate([np.zeros((12, 250)), real.data, np.ones((12, 100))], axis=1)
    out = mark_calibration(_copy(real, x))
    assert out.meta["calibration_samples"] == {"start": 250, "end": 100}
    np.testing.assert_array_equal(out.data, x)  # the reading keeps every sample
    np.testing.assert_array_equal(standardise(out).data, standardise(_copy(real, real.data.copy())).data)


def test_filler_runs_in_raw_integers(real):
    """Declared padding is filler in any run of 3; the undeclared int16 extremes only when held for 0.2 s."""
    from bench.data.validate import _longest_run

    raw = np.round(real.data / 0.001).astype(np.int64)  # the real record in its 1 uV counts
    assert _longest_run(raw[0] == 0) >= 5  # a real quiet baseline holds exact zeros
    reject_filler(raw, real.leads, "x", fs=real.fs)
    with pytest.raises(ECGValidationError, match="lead I: .* consecutive declared padding samples \\(0\\)"):
        reject_filler(raw, real.leads, "x", fs=real.fs, declared=(0,))
    raw[2, 100:103] = -32768  # three samples at the rail: a clipped spike, not padding
    reject_filler(raw, real.leads, "x", fs=real.fs)
    with pytest.raises(ECGValidationError, match="lead III: 3 consecutive declared padding") as info:
        reject_filler(raw, real.leads, "x", fs=real.fs, declared=(-32768,))
    assert info.value.check == "filler"
    raw[5, 1000:1100] = 32767  # 0.2 s at 500 Hz
    with pytest.raises(ECGValidationError, match="lead aVF: 100 consecutive filler samples") as info:
        reject_filler(raw, real.leads, "x", fs=real.fs)
    assert info.value.check == "filler"


def test_mains_interference_is_a_warning(real):
    t = np.arange(real.n_samples) / real.fs
    x = real.data.copy()
    x[9] += 0.5 * np.sin(2 * np.pi * 50 * t)
    out = validate(_copy(real, x))
    assert any("mains interference at 50 Hz in lead(s) ['V4']" in w for w in out.warnings), out.warnings


def test_flat_derived_limb_leads_are_dropped_but_a_flat_chest_lead_is_an_error(real):
    x = real.data.copy()
    x[2:6] = 0.0  # writer stored III, aVR, aVL, aVF as zeros
    out = validate(_copy(real, x))
    assert out.leads == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    assert out.meta["dropped_flat_leads"] == ["III", "aVR", "aVL", "aVF"]
    x[7] = 0.0
    with pytest.raises(ECGValidationError) as info:
        validate(_copy(real, x))
    assert info.value.check == "flat" and "V2" in str(info.value)
