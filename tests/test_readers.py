"""Readers on the real fixtures: right format, rate, leads, duration; plausible millivolts; recording facts."""
from __future__ import annotations

import numpy as np
import pytest

from bench.errors import ECGValidationError
from bench.readers import detect_format, read_ecg
from bench.signal import STANDARD_LEADS
from bench.standardise import standardise

EIGHT = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

# relative path, format, fs, leads, duration (s), expected facts
FIXTURES = [
    ("formats/muse_xml/muse_ecg1.xml", "muse_xml", 500, EIGHT, 10.0,
     {"device": "MAC55", "patient_id": "JAX01234", "acquired": "2021-05-10T13:15:18",
      "statement": "Ventricular-paced rhythm"}),
    ("real/ptbdb/s0010_re.hea", "wfdb", 1000, STANDARD_LEADS, 38.4,
     {"statement": "Myocardial infarction"}),
    ("real/ptbxl/00001_lr.hea", "wfdb", 100, STANDARD_LEADS, 10.0, {}),
    ("real/cinc2021/E07500.mat", "wfdb", 500, STANDARD_LEADS, 10.0, {"statement": "sinus bradycardia"}),
]


def qrs_peaks_mv(data: np.ndarray) -> np.ndarray:
    """Per-lead QRS peak: 99.5th percentile of |x - median| (baseline-free, robust to single spikes)."""
    return np.percentile(np.abs(data - np.median(data, axis=1, keepdims=True)), 99.5, axis=1)


def assert_plausible_mv(data: np.ndarray) -> None:
    peaks = qrs_peaks_mv(data)
    assert data.dtype == np.float32
    assert 0.3 <= peaks.max() <= 5.0, peaks
    assert 0.3 <= np.median(peaks) <= 3.0, peaks


@pytest.mark.parametrize("rel, fmt, fs, leads, duration, facts", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_fixture_decodes(shared_data, rel, fmt, fs, leads, duration, facts):
    path = shared_data / rel
    assert detect_format(path) == fmt
    sig = read_ecg(path)
    assert sig.format == fmt and sig.fs == fs and sig.leads == leads
    assert sig.duration_s == pytest.approx(duration, abs=0.01)
    assert sig.data.shape == (len(leads), round(fs * duration))
    assert_plausible_mv(sig.data)
    for key in ("device", "patient_id", "acquired"):
        if key in facts:
            assert sig.meta[key] == facts[key]
    if "statement" in facts:
        assert any(facts["statement"].lower() in s.lower() for s in sig.meta["statements"]), sig.meta["statements"]
    out = standardise(sig)
    assert out.data.shape == (12, 5000) and out.leads == STANDARD_LEADS
    assert_plausible_mv(out.data)


def test_muse_reads_rhythm_not_median(shared_data):
    sig = read_ecg(shared_data / "formats/muse_xml/muse_ecg1.xml")
    assert sig.n_samples == 5000  # the Median section holds 600 samples
    # 4.88 uV per bit: every value is an integer multiple of 0.00488 mV
    steps = sig.data[:, :200].astype(np.float64) / 0.00488
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)


def test_ptb_frank_leads_dropped_with_note(shared_data):
    sig = read_ecg(shared_data / "real/ptbdb/s0010_re.hea")
    assert sig.meta["dropped_leads"] == ["vx", "vy", "vz"]


def test_wfdb_record_named_without_extension(shared_data):
    sig = read_ecg(shared_data / "real/ptbxl/00001_lr")
    assert sig.format == "wfdb" and sig.n_samples == 1000


def test_cinc_corpus(shared_data):
    """All 50 CinC records: 500 Hz, 12 leads, 10 s, plausible mV; the two with zeroed chest leads are refused."""
    paths = sorted((shared_data / "real/cinc2021").glob("*.hea"))
    assert len(paths) == 50
    refused = {}
    for p in paths:
        try:
            sig = read_ecg(p)
        except ECGValidationError as e:
            refused[p.stem] = e.check
            continue
        assert sig.fs == 500 and sig.leads == STANDARD_LEADS and sig.n_samples == 5000
        assert 0.3 <= np.median(qrs_peaks_mv(sig.data)) <= 3.0, p
        assert sig.meta["statements"], p
    assert refused == {"JS20004": "flat", "JS20008": "flat"}
