"""A corpus of malformed ECG files, made at test time by corrupting the real fixtures, each with its error kind.

Every case must raise an ECGReadError of the expected kind (and validation check), whose message starts with the
file's path. Nothing here is committed as a file: each case is built in tmp_path from the shared fixtures.
"""
from __future__ import annotations

import base64
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from bench.base.errors import ECGReadError
from bench.data.readers import read_ecg

MUSE = "formats/muse_xml/muse_ecg1.xml"
AECG = "formats/hl7_aecg/example_aecg.xml"
PHILIPS = "formats/philips_xml/3191723_ZZDEMOPTONLY_1-04_orig.xml"
DICOM = "formats/dicom/anonymous_ecg.dcm"
SCP = "formats/scp/Example.scp"
CPSC = "real/cpsc2018/A1980.mat"
PTBXL = "real/ptbxl/00001_lr"

XXE = '<!DOCTYPE RestingECG [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
BOMB = ('<!DOCTYPE RestingECG [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>')


# ---- helpers that corrupt one fixture -------------------------------------------------------------------------

def _muse(src: Path) -> tuple[str, str]:
    """(text before the Rhythm section, Rhythm section and after)."""
    text = (src / MUSE).read_text("latin-1")
    i = text.index("<WaveformType>Rhythm")
    return text[:i], text[i:]


def _muse_edit_lead(text: str, lead: str, fn) -> str:
    pattern = re.compile(r"<LeadData>(?:(?!</LeadData>).)*?<LeadID>" + re.escape(lead) + r"</LeadID>.*?</LeadData>",
                         re.S)
    m = pattern.search(text)
    return text[:m.start()] + fn(m.group(0)) + text[m.end():]


def _muse_samples(block: str, samples: np.ndarray) -> str:
    raw = samples.astype("<i2").tobytes()
    block = re.sub(r"<WaveFormData>.*?</WaveFormData>",
                   f"<WaveFormData>{base64.b64encode(raw).decode()}</WaveFormData>", block, flags=re.S)
    block = re.sub(r"<LeadByteCountTotal>\d+", f"<LeadByteCountTotal>{len(raw)}", block)
    return re.sub(r"<LeadSampleCountTotal>\d+", f"<LeadSampleCountTotal>{len(samples)}", block)


def muse(src: Path, tmp: Path, edit) -> Path:
    head, rhythm = _muse(src)
    out = tmp / "muse.xml"
    out.write_bytes((edit(head, rhythm)).encode("latin-1"))
    return out


def muse_lead(lead: str, fn):
    return lambda src, tmp: muse(src, tmp, lambda h, r: h + _muse_edit_lead(r, lead, fn))


def muse_all_leads(fn):
    def edit(h, r):
        for lead in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"):
            r = _muse_edit_lead(r, lead, fn)
        return h + r
    return lambda src, tmp: muse(src, tmp, edit)


def muse_doctype(decl: str, ref: str):
    def edit(h, r):
        h = h.replace('<!DOCTYPE RestingECG SYSTEM "restecg.dtd">', decl)
        return h.replace("<PatientID>JAX01234</PatientID>", f"<PatientID>{ref}</PatientID>") + r
    return lambda src, tmp: muse(src, tmp, edit)


def text_file(rel: str, name: str, fn, encoding="utf-8"):
    def build(src, tmp):
        out = tmp / name
        out.write_bytes(fn((src / rel).read_text(encoding)).encode(encoding))
        return out
    return build


def bytes_file(rel: str, name: str, fn):
    def build(src, tmp):
        out = tmp / name
        out.write_bytes(fn((src / rel).read_bytes()))
        return out
    return build


def philips_payload(fn):
    def edit(t):
        m = re.search(r"(<parsedwaveforms[^>]*>)(.*?)(</parsedwaveforms>)", t, re.S)
        return t[:m.start(2)] + fn(m.group(2)) + t[m.end(2):]
    return text_file(PHILIPS, "philips.xml", edit, encoding="utf-16")


def dicom(edit):
    def build(src, tmp):
        import pydicom

        ds = pydicom.dcmread(str(src / DICOM))
        edit(ds)
        out = tmp / "ecg.dcm"
        ds.save_as(str(out))
        return out
    return build


def _dicom_samples(ds, fn):
    g = ds.WaveformSequence[0]
    x = np.frombuffer(g.WaveformData, dtype="<i2").reshape(int(g.NumberOfWaveformSamples), -1).copy()
    g.WaveformData = fn(x).astype("<i2").tobytes()


def _dicom_padding_inside(ds):
    ds.WaveformSequence[0].add_new(0x5400100A, "OW", struct.pack("<h", -32768))  # Waveform Padding Value
    _dicom_samples(ds, lambda x: (x.__setitem__(slice(3000, 3400), -32768), x)[1])


def scp_section6(fn):
    def edit(b):
        b = bytearray(b)
        idx = struct.unpack_from("<I", b, 22 + 10 * 6 + 6)[0] - 1  # section 6 pointer index
        fn(b, idx)
        return bytes(b)
    return bytes_file(SCP, "ecg.scp", edit)


def cpsc(fn):
    def build(src, tmp):
        from scipy.io import loadmat, savemat

        m = loadmat(str(src / CPSC))
        e = m["ECG"][0, 0]
        data = fn(np.asarray(e["data"], dtype=np.float64).copy())
        out = tmp / "A0000.mat"
        savemat(str(out), {"ECG": {"sex": e["sex"], "age": e["age"], "data": data}})
        return out
    return build


def wfdb_record(fn, *, fs=100):
    def build(src, tmp):
        import wfdb

        rec = wfdb.rdrecord(str(src / PTBXL), physical=False)
        d = fn(rec.d_signal.copy())
        wfdb.wrsamp("bad", fs=fs, units=rec.units, sig_name=rec.sig_name, d_signal=d, fmt=["16"] * d.shape[1],
                    adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(tmp))
        return tmp / "bad.hea"
    return build


def _copy_record(src, tmp, hea_edit=lambda t: t, dat_edit=lambda b: b):
    (tmp / "00001_lr.hea").write_text(hea_edit((src / (PTBXL + ".hea")).read_text()))
    (tmp / "00001_lr.dat").write_bytes(dat_edit((src / (PTBXL + ".dat")).read_bytes()))
    return tmp / "00001_lr.hea"


def _sparse(tmp, size):
    out = tmp / "huge.xml"
    with open(out, "wb") as f:
        f.write(b'<?xml version="1.0"?><RestingECG>')
        f.truncate(size)
    return out


def _write(tmp: Path, name: str, data) -> Path:
    out = tmp / name
    out.write_bytes(data) if isinstance(data, bytes) else out.write_text(data)
    return out


def _b64_prefix(payload: str, frac: float) -> str:
    """A valid base64 prefix of the payload (a truncated but decodable waveform)."""
    clean = re.sub(r"\s+", "", payload)
    return clean[: int(len(clean) * frac) // 4 * 4]


def _aecg_first_digits(text: str, n: int, value: str) -> str:
    """The aECG text with the first `n` digits of its first lead set to `value` (the lead keeps its length)."""
    m = re.search(r"<digits>(.*?)</digits>", text, re.S)
    digits = m.group(1).split()
    return text[:m.start(1)] + " ".join([value] * n + digits[n:]) + text[m.end(1):]


def _half(b: bytes) -> bytes:
    return b[: len(b) // 2]


# ---- the corpus: name -> (builder(shared_data, tmp_path) -> path, kind, validation check or None) ------------------

CASES = {
    "empty": (lambda s, t: _write(t, "e.xml", b""), "format", None),
    "binary_garbage": (lambda s, t: _write(t, "g.bin", np.random.default_rng(0).bytes(5000)), "format", None),
    "not_an_ecg_xml": (lambda s, t: _write(t, "h.xml", "<html><body>hi</body></html>"), "format", None),
    "oversized": (lambda s, t: _sparse(t, 65 * 1024 * 1024), "too_large", None),
    "muse_truncated": (text_file(MUSE, "m.xml", lambda t: t[: len(t) // 2], "latin-1"), "corrupt", None),
    "muse_bad_base64": (muse_lead("V2", lambda b: b.replace("<WaveFormData>", "<WaveFormData>@@##")), "corrupt", None),
    "muse_lead_bytes_missing": (muse_lead("V2", lambda b: re.sub(r"(<WaveFormData>\s*)\S{8}", r"\1", b)),
                                "corrupt", None),
    "muse_no_rhythm_section": (lambda s, t: muse(s, t, lambda h, r: h + r.replace("Rhythm", "Median", 1)),
                               "corrupt", None),
    "muse_wrong_units_per_bit": (muse_all_leads(lambda b: b.replace(">4.88<", ">4880<")), "validation", "amplitude"),
    "muse_millivolts_label": (muse_all_leads(lambda b: b.replace("MICROVOLTS", "MILLIVOLTS")), "validation",
                              "amplitude"),
    "muse_volts_label": (muse_all_leads(lambda b: b.replace("MICROVOLTS", "NANOVOLTS")), "validation", "amplitude"),
    "muse_unknown_units": (muse_lead("I", lambda b: b.replace("MICROVOLTS", "FURLONGS")), "validation", "units"),
    "muse_missing_chest_lead": (lambda s, t: muse(s, t, lambda h, r: h + re.sub(
        r"<LeadData>(?:(?!</LeadData>).)*?<LeadID>V3</LeadID>.*?</LeadData>", "", r, flags=re.S)),
        "validation", "missing_lead"),
    "muse_unknown_lead_name": (muse_lead("V1", lambda b: b.replace("<LeadID>V1<", "<LeadID>Q7<")), "validation",
                               "unknown_lead"),
    "muse_duplicate_lead": (muse_lead("V1", lambda b: b.replace("<LeadID>V1<", "<LeadID>V2<")), "validation",
                            "duplicate_lead"),
    "muse_filler_run": (muse_lead("V4", lambda b: _muse_samples(b, np.r_[np.zeros(2000), np.full(3000, -32768)])),
                        "validation", "filler"),
    "muse_saturated_32767": (muse_lead("V5", lambda b: _muse_samples(b, np.full(5000, 32767))), "validation",
                             "filler"),
    "muse_flat_lead": (muse_lead("II", lambda b: _muse_samples(b, np.zeros(5000))), "validation", "flat"),
    "muse_too_short": (muse_all_leads(lambda b: _muse_samples(b, np.round(np.sin(np.arange(2500) / 20) * 200))),
                       "validation", "too_short"),
    "muse_no_rate": (lambda s, t: muse(s, t, lambda h, r: h.replace("<ECGSampleBase>500</ECGSampleBase>", "")
                                       + r.replace("<SampleBase>500</SampleBase>", "", 1)),
                     "validation", "missing_rate"),
    "muse_xxe": (muse_doctype(XXE, "&xxe;"), "unsafe_xml", None),
    "muse_entity_bomb": (muse_doctype(BOMB, "&d;"), "unsafe_xml", None),
    "aecg_truncated": (text_file(AECG, "a.xml", lambda t: t[: int(len(t) * 0.6)]), "corrupt", None),
    "aecg_bad_digits": (text_file(AECG, "a.xml", lambda t: t.replace("<digits> -2 -2", "<digits> -2 x2", 1)),
                        "corrupt", None),
    "aecg_nan_digits": (text_file(AECG, "a.xml", lambda t: t.replace("<digits> -2 -2", "<digits> nan inf", 1)),
                        "validation", "non_finite"),
    "aecg_filler_digits": (text_file(AECG, "a.xml", lambda t: _aecg_first_digits(t, 150, "32767")), "validation",
                           "filler"),
    "aecg_no_increment": (text_file(AECG, "a.xml", lambda t: t.replace('<increment value="0.002" unit="s"/>', "")),
                          "validation", "missing_rate"),
    "aecg_wrong_units": (text_file(AECG, "a.xml", lambda t: t.replace('<scale value="2.5" unit="uV"/>',
                                                                      '<scale value="2.5" unit="mV"/>')),
                         "validation", "amplitude"),
    "aecg_xxe": (text_file(AECG, "a.xml", lambda t: t.replace(
        "<AnnotatedECG ", '<!DOCTYPE AnnotatedECG [<!ENTITY x SYSTEM "http://127.0.0.1/">]><AnnotatedECG ', 1)
        .replace("<text>Subject", "<text>&x;Subject")), "unsafe_xml", None),
    "aecg_only_representative_beat": (text_file(AECG, "a.xml", lambda t: t.replace('code="RHYTHM"', 'code="X"')),
                                      "corrupt", None),
    "philips_bad_base64": (philips_payload(lambda p: "!!" + p), "corrupt", None),
    "philips_truncated_xli": (philips_payload(lambda p: _b64_prefix(p, 0.3)), "corrupt", None),
    "dicom_truncated": (bytes_file(DICOM, "d.dcm", _half), "corrupt", None),
    "dicom_waveform_data_short": (dicom(lambda ds: setattr(ds.WaveformSequence[0], "WaveformData",
                                                           ds.WaveformSequence[0].WaveformData[:1000])),
                                  "corrupt", None),
    "dicom_sensitivity_x1000": (dicom(lambda ds: [setattr(c, "ChannelSensitivity", 1250) for c in
                                                  ds.WaveformSequence[0].ChannelDefinitionSequence]),
                                "validation", "amplitude"),
    "dicom_padding_inside": (dicom(_dicom_padding_inside), "validation", "filler"),
    "dicom_no_rate": (dicom(lambda ds: delattr(ds.WaveformSequence[0], "SamplingFrequency")), "validation",
                      "missing_rate"),
    "scp_truncated": (bytes_file(SCP, "s.scp", lambda b: b[: len(b) * 2 // 3]), "corrupt", None),
    "scp_garbage_huffman": (scp_section6(lambda b, i: b.__setitem__(slice(i + 46, i + 30000),
                                                                     b"\xff" * (30000 - 46))), "corrupt", None),
    "scp_zero_interval": (scp_section6(lambda b, i: struct.pack_into("<H", b, i + 18, 0)), "validation",
                          "missing_rate"),
    "cpsc_nan": (cpsc(lambda d: (d.__setitem__((3, slice(100, 200)), np.nan), d)[1]), "validation", "non_finite"),
    "cpsc_microvolts": (cpsc(lambda d: d * 1000), "validation", "amplitude"),
    "cpsc_saturated": (cpsc(lambda d: (d.__setitem__(7, np.clip(d[7] + 2 * np.sin(np.arange(d.shape[1]) / 800),
                                                                 -0.5, 0.5)), d)[1]), "validation", "saturated"),
    "cpsc_truncated": (lambda s, t: _write(t, "A1.mat", _half((s / CPSC).read_bytes())), "corrupt", None),
    "cpsc_too_short": (cpsc(lambda d: d[:, :3000]), "validation", "too_short"),
    "wfdb_missing_dat": (lambda s, t: _write(t, "r.hea", (s / (PTBXL + ".hea")).read_text().replace("00001_lr", "r")),
                         "corrupt", None),
    "wfdb_truncated_dat": (lambda s, t: _copy_record(s, t, dat_edit=_half), "corrupt", None),
    "wfdb_invalid_samples": (wfdb_record(lambda d: (d.__setitem__((slice(200, 400), 4), -32768), d)[1]),
                             "validation", "filler"),
    "wfdb_too_short": (wfdb_record(lambda d: d[:500]), "validation", "too_short"),
    "wfdb_no_rate": (lambda s, t: _copy_record(s, t, hea_edit=lambda h: h.replace("00001_lr 12 100 1000",
                                                                              "00001_lr 12")),
                     "validation", "missing_rate"),
    "wfdb_unknown_units": (lambda s, t: _copy_record(s, t, hea_edit=lambda h: h.replace("/mV", "/mmHg")),
                           "validation", "units"),
}


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file_gives_clear_error(shared_data, tmp_path, name):
    build, kind, check = CASES[name]
    path = build(shared_data, tmp_path)
    with pytest.raises(ECGReadError) as info:
        read_ecg(path)
    err = info.value
    assert err.kind == kind, f"{name}: got {err.kind}: {err}"
    if check is not None:
        assert err.check == check, f"{name}: got check {err.check}: {err}"
    assert str(err).startswith(str(path)) and len(err.reason) > 10


def test_size_bound_configurable(shared_data, monkeypatch):
    monkeypatch.setenv("BENCH_MAX_ECG_BYTES", "1000")
    with pytest.raises(ECGReadError) as info:
        read_ecg(shared_data / MUSE)
    assert info.value.kind == "too_large" and "1000-byte bound" in str(info.value)
    assert read_ecg(shared_data / MUSE, max_bytes=10**7).format == "muse_xml"


def test_lying_encoding_declarations_still_read(shared_data, tmp_path):
    """Philips as UTF-8 bytes declaring UTF-16, and MUSE as UTF-8 declaring ISO-8859-1 (with non-ASCII text)."""
    text = (shared_data / PHILIPS).read_text("utf-16")
    p = tmp_path / "philips_utf8.xml"
    p.write_bytes(text.encode("utf-8"))  # declaration still says utf-16
    sig = read_ecg(p)
    assert sig.format == "philips_xml" and sig.leads[0] == "I"
    head, rhythm = _muse(shared_data)
    m = tmp_path / "muse_utf8.xml"
    m.write_bytes((head.replace("TEST 05", "Müller Zoë") + rhythm).encode("utf-8"))
    sig = read_ecg(m)
    assert sig.format == "muse_xml" and any("encoding" in w for w in sig.warnings)
    u16 = tmp_path / "muse_utf16.xml"
    u16.write_bytes((head + rhythm).encode("utf-16"))
    assert read_ecg(u16).n_samples == 5000


def test_dicom_trailing_padding_is_cut(shared_data, tmp_path):
    def pad_tail(ds):
        ds.WaveformSequence[0].add_new(0x5400100A, "OW", struct.pack("<h", -32768))
        _dicom_samples(ds, lambda x: (x.__setitem__(slice(9000, None), -32768), x)[1])

    sig = read_ecg(dicom(pad_tail)(shared_data, tmp_path))
    assert sig.n_samples == 9000 and any("padding" in w for w in sig.warnings)


def test_muse_250_hz_variant_reads_and_upsamples(shared_data, tmp_path):
    """A MUSE export at 250 Hz (every other sample kept, SampleBase 250) standardises to the 500 Hz original."""
    from bench.data.standardise import standardise

    def decimate(block):
        raw = base64.b64decode(re.sub(r"\s+", "", re.search(r"<WaveFormData>(.*?)</WaveFormData>", block, re.S)[1]))
        return _muse_samples(block, np.frombuffer(raw, dtype="<i2")[::2])

    def edit(h, r):
        r = r.replace("<SampleBase>500</SampleBase>", "<SampleBase>250</SampleBase>", 1)
        for lead in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"):
            r = _muse_edit_lead(r, lead, decimate)
        return h + r

    sig = read_ecg(muse(shared_data, tmp_path, edit))
    assert sig.fs == 250 and sig.n_samples == 2500
    up = standardise(sig)
    ref = standardise(read_ecg(shared_data / MUSE))
    assert up.meta["standardise"]["resampled_from"] == 250
    corr = [np.corrcoef(a[100:-100], b[100:-100])[0, 1] for a, b in zip(up.data, ref.data)]
    assert min(corr) > 0.95, corr


def test_wfdb_signal_files_count_towards_the_size_bound(shared_data, tmp_path, monkeypatch):
    hea = _copy_record(shared_data, tmp_path)
    monkeypatch.setenv("BENCH_MAX_ECG_BYTES", "10000")  # header (~1 kB) passes, the 24 kB signal file does not
    with pytest.raises(ECGReadError) as info:
        read_ecg(hea)
    assert info.value.kind == "too_large" and "signal files" in str(info.value)
