"""Readers on the real fixtures: right format, rate, leads, duration; plausible millivolts; recording facts."""
from __future__ import annotations

import numpy as np
import pytest

from bench.base.errors import ECGValidationError
from bench.data.readers import detect_format, read_ecg
from bench.base.signal import STANDARD_LEADS
from bench.data.standardise import standardise

EIGHT = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

# relative path, format, fs, leads, duration (s), expected facts
FIXTURES = [
    ("formats/muse_xml/muse_ecg1.xml", "muse_xml", 500, EIGHT, 10.0,
     {"device": "MAC55", "patient_id": "JAX01234", "acquired": "2021-05-10T13:15:18",
      "statement": "Ventricular-paced rhythm"}),
    ("formats/hl7_aecg/example_aecg.xml", "hl7_aecg", 500, EIGHT + ("III", "aVR", "aVL", "aVF"), 10.0,
     {"device": "Mortara Instrument, Inc. ELI250", "patient_id": "SBJ-123", "acquired": "2002-11-22T09:10:00",
      "statement": "Sinus Rhythm"}),
    ("formats/scp/Example.scp", "scp", 500, EIGHT + ("III", "aVR", "aVL", "aVF"), 10.0,
     {"patient_id": "SBJ-123", "acquired": "2002-11-22T09:10:00"}),
    ("formats/philips_xml/3191723_ZZDEMOPTONLY_1-04_orig.xml", "philips_xml", 500, STANDARD_LEADS, 11.0,
     {"device": "PageWriter Touch", "patient_id": "9999", "acquired": "2010-01-19T15:19:22",
      "statement": "SINUS RHYTHM"}),
    ("formats/dicom/anonymous_ecg.dcm", "dicom", 1000, STANDARD_LEADS, 10.0,
     {"device": "Mortara Instrument, Inc. el250", "patient_id": "642341", "acquired": "2013-01-25T10:59:19",
      "statement": "RITMO SINUSALE"}),
    ("real/cpsc2018/A1980.mat", "cpsc_mat", 500, STANDARD_LEADS, 10.0, {}),
    ("real/ptbdb/s0010_re.hea", "wfdb", 1000, STANDARD_LEADS, 38.4,
     {"statement": "Myocardial infarction", "acquired": "1990-10-01T00:00:00"}),
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


def test_aecg_and_scp_are_the_same_recording(shared_data):
    a = standardise(read_ecg(shared_data / "formats/hl7_aecg/example_aecg.xml")).data
    b = standardise(read_ecg(shared_data / "formats/scp/Example.scp")).data
    corr = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)]
    assert min(corr) > 0.99, corr
    v2 = STANDARD_LEADS.index("V2")
    assert qrs_peaks_mv(b)[v2] == pytest.approx(1.97, abs=0.15)


def test_philips_limb_leads_rebuilt_and_calibration_pulse_left_out(shared_data):
    sig = read_ecg(shared_data / "formats/philips_xml/3191723_ZZDEMOPTONLY_1-04_orig.xml")
    assert sig.meta["limb_leads"] == "rebuilt from Philips residuals"
    assert sig.meta["calibration_samples"] == {"start": 0, "end": 200}
    out = standardise(sig)
    assert out.meta["standardise"]["calibration_samples_left_out"] == 200
    pulse = sig.data[:, -200:]
    assert not any(np.array_equal(out.data[:, i:i + 200], pulse) for i in (0, out.data.shape[1] - 200))
    assert out.meta["standardise"]["einthoven_residual"] < 0.01
    assert not any("law" in w for w in out.warnings)


def test_dicom_rhythm_group_not_median(shared_data):
    sig = read_ecg(shared_data / "formats/dicom/anonymous_ecg.dcm")
    assert sig.meta["multiplex_group"] == "RHYTHM" and sig.n_samples == 10000


def test_cpsc_corpus(shared_data):
    for p in sorted((shared_data / "real/cpsc2018").glob("*.mat")):
        sig = read_ecg(p)
        assert sig.format == "cpsc_mat" and sig.fs == 500 and sig.leads == STANDARD_LEADS
        assert sig.duration_s >= 10 and sig.meta["sex"] in ("Male", "Female")
        assert 0.3 <= np.median(qrs_peaks_mv(sig.data)) <= 3.0, p
        assert standardise(sig).data.shape == (12, 5000)


def test_format_detected_from_content_not_extension(shared_data, tmp_path):
    for rel, fmt in [("formats/muse_xml/muse_ecg1.xml", "muse_xml"), ("formats/scp/Example.scp", "scp"),
                     ("formats/dicom/anonymous_ecg.dcm", "dicom"), ("formats/hl7_aecg/example_aecg.xml", "hl7_aecg")]:
        renamed = tmp_path / f"export_{fmt}.bin"
        renamed.write_bytes((shared_data / rel).read_bytes())
        assert detect_format(renamed) == fmt
        assert read_ecg(renamed).format == fmt


def test_lead_names_normalised():
    from bench.base.leads import canonical_lead, is_extra_lead, lead_from_code

    for name, canon in [("aVR", "aVR"), ("AVR", "aVR"), ("avr", "aVR"), ("v1", "V1"), ("MDC_ECG_LEAD_I", "I"),
                        ("Lead I", "I"), ("MDC_ECG_LEAD_AVF", "aVF"), ("DIII", "III"), ("C6", "V6"),
                        ("Lead aVR, augmented voltage, redundant", "aVR"), ("Lead I (Einthoven)", "I"),
                        ("Lead V1 (Wilson)", "V1")]:
        assert canonical_lead(name) == canon
    assert canonical_lead("vx") is None and is_extra_lead("vx") and not is_extra_lead("foo")
    assert canonical_lead("Lead V4R (right)") is None and canonical_lead("II extra") == "II"
    assert lead_from_code("5.6.3-9-61") == "III" and lead_from_code("2:62") == "aVR"
    assert canonical_lead(lead_from_code("X1", "Lead V3 (Wilson)")) == "V3"


def test_inspect_json(shared_data, capsys):
    import json

    from bench.cli import main

    good = shared_data / "formats/dicom/anonymous_ecg.dcm"
    bad = shared_data / "real/cinc2021/JS20004.hea"
    assert main(["inspect", "--json", str(good)]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert set(rec) == {"path", "format", "fs", "leads", "samples", "duration_s", "lead_peak_mv", "statements",
                        "warnings"}
    assert rec["format"] == "dicom" and rec["fs"] == 1000 and rec["samples"] == 10000 and rec["duration_s"] == 10
    assert 0.3 < max(rec["lead_peak_mv"].values()) < 5
    assert main(["inspect", "--json", str(good), str(bad)]) == 1
    recs = json.loads(capsys.readouterr().out)
    assert recs[1]["path"] == str(bad) and recs[1]["error"]["kind"] == "validation"
    assert "flat" in recs[1]["error"]["message"] and str(bad) in recs[1]["error"]["message"]
    assert main(["inspect", str(good)]) == 0
    assert "format dicom, 1000 Hz, 12 leads" in capsys.readouterr().out
