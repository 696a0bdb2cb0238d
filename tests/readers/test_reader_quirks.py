"""Quirks of real vendor exports, each class rebuilt from the real fixtures the way those exports carry it.

An encoding declaration that lies about the bytes (decode by BOM and content, warn naming the file and both
encodings); a declared sample count one above what is stored (read what is stored, warn); short runs of one value
(exact zeros on a real baseline) in files that declare no padding value (signal, not filler); Philips XLI decoded
exactly as `sierraecg` decodes it, an 11 s PageWriter file reading as 11 s. Each warning reaches `bench inspect --json`.
"""
from __future__ import annotations

import base64
import codecs
import json
import re
import struct

import numpy as np
import pytest

from bench.base.errors import ECGCorruptError, ECGReadError
from bench.data.readers import read_ecg

MUSE = "formats/muse_xml/muse_ecg1.xml"
AECG = "formats/hl7_aecg/example_aecg.xml"
PHILIPS = "formats/philips_xml/3191723_ZZDEMOPTONLY_1-04_orig.xml"
DICOM = "formats/dicom/anonymous_ecg.dcm"
WFDB = "real/cinc2021/HR06000"


def _same_signal(sig, ref, n=None):
    n = ref.n_samples if n is None else n
    assert sig.leads == ref.leads and sig.fs == ref.fs and sig.n_samples == n
    np.testing.assert_array_equal(sig.data, ref.data[:, :n])


def _inspect_warnings(path, capsys) -> list[str]:
    from bench.cli import main

    assert main(["inspect", "--json", str(path)]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    return rec["warnings"]


# --- encoding declarations that do not match the bytes ----------------------------------------------------------

def _muse_utf8(text):  # MUSE declares ISO-8859-1; this export wrote UTF-8 (a non-ASCII name shows it)
    return text.replace("TEST 05", "Müller Zoë").encode("utf-8")


def _muse_bom_latin1(text):  # a UTF-8 byte-order mark in front of an ISO-8859-1 declaration
    return codecs.BOM_UTF8 + text.encode("utf-8")


def _philips_utf8(text):  # Philips declares utf-16; these bytes are UTF-8 (pure ASCII)
    return text.encode("utf-8")


def _aecg_utf16(text):  # the aECG declares utf-8; the bytes are UTF-16 with a BOM
    return text.encode("utf-16")


@pytest.mark.parametrize("rel, source_encoding, make, declared, used", [
    (MUSE, "latin-1", _muse_utf8, "ISO-8859-1", "utf-8"),
    (MUSE, "latin-1", _muse_bom_latin1, "ISO-8859-1", "utf-8 (BOM)"),
    (PHILIPS, "utf-16", _philips_utf8, "utf-16", "utf-8"),
    (AECG, "utf-8", _aecg_utf16, "utf-8", "utf-16-le (BOM)"),
], ids=["muse-utf8-declared-latin1", "muse-utf8-bom-declared-latin1", "philips-utf8-declared-utf16",
        "aecg-utf16-bom-declared-utf8"])
def test_encoding_declaration_that_lies(shared_data, tmp_path, capsys, rel, source_encoding, make, declared, used):
    path = tmp_path / "export.xml"
    path.write_bytes(make((shared_data / rel).read_text(source_encoding)))
    ref = read_ecg(shared_data / rel)
    sig = read_ecg(path)
    _same_signal(sig, ref)
    expected = f"{path}: declared XML encoding {declared!r} does not match the bytes, decoded as {used}"
    assert expected in sig.warnings
    assert expected in _inspect_warnings(path, capsys)
    assert not any("encoding" in w for w in ref.warnings)  # the fixtures' own declarations fit their bytes


def test_muse_name_decoded_from_the_bytes_not_the_declaration(shared_data, tmp_path):
    from bench.data.readers import _xml

    root, _ = _xml.parse_xml(tmp_path / "m.xml", _muse_utf8((shared_data / MUSE).read_text("latin-1")))
    assert _xml.text(root, "PatientDemographics", "PatientLastName") == "Müller Zoë"  # not 'MÃ¼ller ZoÃ«'


# --- declared sample count one above what is stored -------------------------------------------------------------

def _muse_count_plus(k):
    def build(src, tmp):
        text = re.sub(r"<LeadSampleCountTotal>(\d+)",
                      lambda m: f"<LeadSampleCountTotal>{int(m.group(1)) + k}", (src / MUSE).read_text("latin-1"))
        path = tmp / "muse.xml"
        path.write_bytes(text.encode("latin-1"))
        return path, 5000
    return build


def _dicom_count_plus(k):
    def build(src, tmp):
        import pydicom

        ds = pydicom.dcmread(str(src / DICOM))
        rhythm = next(g for g in ds.WaveformSequence if "RHYTHM" in str(g.MultiplexGroupLabel).upper())
        n = int(rhythm.NumberOfWaveformSamples)
        rhythm.NumberOfWaveformSamples = n + k
        path = tmp / "ecg.dcm"
        ds.save_as(str(path))
        return path, n
    return build


def _wfdb_count_plus(k):
    def build(src, tmp):
        for ext in (".hea", ".mat"):
            (tmp / f"HR06000{ext}").write_bytes((src / f"{WFDB}{ext}").read_bytes())
        hea = tmp / "HR06000.hea"
        first, rest = hea.read_text().split("\n", 1)
        fields = first.split()
        n = int(fields[3])
        fields[3] = str(n + k)
        hea.write_text(" ".join(fields) + "\n" + rest)
        return hea, n
    return build


COUNT_CASES = {"muse": (_muse_count_plus, MUSE), "dicom": (_dicom_count_plus, DICOM),
               "wfdb": (_wfdb_count_plus, WFDB + ".hea")}


@pytest.mark.parametrize("fmt", sorted(COUNT_CASES))
def test_declared_count_one_above_what_is_stored(shared_data, tmp_path, capsys, fmt):
    make, rel = COUNT_CASES[fmt]
    path, n = make(1)(shared_data, tmp_path)
    sig = read_ecg(path)
    _same_signal(sig, read_ecg(shared_data / rel), n)
    warned = [w for w in sig.warnings if f"header says {n + 1} samples, {n} stored; read the {n} stored" in w]
    assert warned, sig.warnings
    assert warned[0] in _inspect_warnings(path, capsys)


@pytest.mark.parametrize("fmt", sorted(COUNT_CASES))
def test_declared_count_two_above_is_truncation(shared_data, tmp_path, fmt):
    path, n = COUNT_CASES[fmt][0](2)(shared_data, tmp_path)
    with pytest.raises(ECGCorruptError, match=f"{n} samples stored, header says {n + 2} \\(truncated\\)") as info:
        read_ecg(path)
    assert str(info.value).startswith(str(path))


# --- short runs of one value are signal unless the file declares them padding --------------------------------------

def _muse_with_run(src, tmp, lead, start, values):
    text = (src / MUSE).read_text("latin-1")
    m = re.search(r"<LeadID>" + lead + r"</LeadID>.*?<WaveFormData>(.*?)</WaveFormData>",
                  text[text.index("<WaveformType>Rhythm"):], re.S)
    offset = text.index("<WaveformType>Rhythm")
    x = np.frombuffer(base64.b64decode(re.sub(r"\s+", "", m.group(1))), dtype="<i2").copy()
    x[start:start + len(values)] = values
    payload = base64.b64encode(x.tobytes()).decode()
    path = tmp / "muse_run.xml"
    path.write_bytes((text[:offset + m.start(1)] + payload + text[offset + m.end(1):]).encode("latin-1"))
    return path, x


def test_short_runs_of_exact_values_are_signal_without_declared_padding(shared_data, tmp_path):
    """Exact zeros for 20 ms on V4's baseline and a 3-sample spike clipped at +32767 in V2: a MUSE file declares no
    padding value, so both read (the spike as a warning); 0.2 s held at the rail is padding."""
    ref = read_ecg(shared_data / MUSE)
    path, x = _muse_with_run(shared_data, tmp_path, "V4", 1200, np.zeros(10))
    sig = read_ecg(path)
    v4 = sig.leads.index("V4")
    np.testing.assert_allclose(sig.data[v4], x * 0.00488, atol=1e-6)
    assert (sig.data[v4, 1200:1210] == 0).all() and sig.n_samples == ref.n_samples
    path, _ = _muse_with_run(shared_data, tmp_path, "V2", 2000, np.full(3, 32767))
    assert any("lead V2: spike" in w for w in read_ecg(path).warnings)
    path, _ = _muse_with_run(shared_data, tmp_path, "V2", 2000, np.full(100, 32767))
    with pytest.raises(ECGReadError, match="lead V2: 100 consecutive filler samples") as info:
        read_ecg(path)
    assert info.value.check == "filler"


@pytest.mark.parametrize("declare_zero", [False, True])
def test_dicom_zero_run_is_filler_only_when_zero_is_the_declared_padding(shared_data, tmp_path, declare_zero):
    import pydicom

    ds = pydicom.dcmread(str(shared_data / DICOM))
    rhythm = next(g for g in ds.WaveformSequence if "RHYTHM" in str(g.MultiplexGroupLabel).upper())
    x = np.frombuffer(rhythm.WaveformData, dtype="<i2").reshape(int(rhythm.NumberOfWaveformSamples), -1).copy()
    x[4000:4008, 7] = 0  # 8 ms of exact zeros in one lead
    rhythm.WaveformData = x.astype("<i2").tobytes()
    if declare_zero:
        rhythm.add_new(0x5400100A, "OW", struct.pack("<h", 0))  # Waveform Padding Value 0
    path = tmp_path / "zeros.dcm"
    ds.save_as(str(path))
    if not declare_zero:
        assert read_ecg(path).n_samples == x.shape[0]
        return
    # the real record itself holds short runs of exact zeros (lead I), refused only because 0 is declared padding
    with pytest.raises(ECGReadError, match="consecutive declared padding samples \\(0\\)") as info:
        read_ecg(path)
    assert info.value.check == "filler"


# --- Philips: sierraecg's decode, all 5,500 samples of an 11 s file -----------------------------------------------

@pytest.fixture(scope="module")
def sierra(shared_data):
    """(sierraecg's samples of the fixture (12 x 5500), its stored XLI chunks before the limb-lead rebuild)."""
    sierraecg = pytest.importorskip("sierraecg")
    from sierraecg.xli import xli_decode

    path = shared_data / PHILIPS
    decoded = sierraecg.read_file(str(path))
    payload = re.search(r"<parsedwaveforms[^>]*>(.*?)</parsedwaveforms>", path.read_text("utf-16"), re.S).group(1)
    stored = xli_decode(base64.b64decode("".join(payload.split())), [lead.label for lead in decoded.leads])
    assert len(stored) == 16  # a PageWriter allocates 16 channels; the 12 labelled leads come first
    return np.stack([lead.samples for lead in decoded.leads]).astype(np.int64), np.stack(stored[:12]).astype(np.int64)


def test_philips_decode_is_sierraecgs(shared_data, sierra):
    from bench.data.readers import philips_xml

    expected, _ = sierra
    assert expected.shape == (12, 5500)  # durationperchannel 11000 ms at 500 Hz
    raw = philips_xml.read(shared_data / PHILIPS)
    np.testing.assert_array_equal(np.round(raw.data / 0.005).astype(np.int64), expected)
    sig = read_ecg(shared_data / PHILIPS)
    assert sig.duration_s == 11.0  # every sample sierraecg decodes
    np.testing.assert_array_equal(np.round(sig.data / 0.005).astype(np.int64), expected)
    n = sig.meta["calibration_samples"]["end"]  # PageWriter's 1 mV calibration pulse, the same in every lead
    tail = expected[:, -n:]
    assert 0.35 <= n / 500 <= 0.5 and (tail == tail[:1]).all() and set(np.unique(tail)) == {0, 200}


def test_philips_11_s_file_reads_11_s(shared_data, tmp_path, monkeypatch, sierra):
    """The fixture's stored leads with the calibration pulse replaced by ECG from earlier in the recording, written
    uncompressed: 11 s of signal, decoded sample for sample as sierraecg decodes it; one sample short reads 10.998 s."""
    sierraecg = pytest.importorskip("sierraecg")
    import sierraecg.lib

    # sierraecg 0.4.0 rebuilds limb leads in place on np.frombuffer's read-only views for uncompressed files; give its
    # own decoder writable copies
    split_leads = sierraecg.lib.split_leads
    monkeypatch.setattr(sierraecg.lib, "split_leads", lambda *a: [lead.copy() for lead in split_leads(*a)])
    _, stored = sierra
    stored = stored.copy()
    stored[:, 5280:] = stored[:, 2280:2500]  # 0.44 s of real ECG where the pulse was
    text = (shared_data / PHILIPS).read_text("utf-16").replace('compression="XLI"', 'compression="Uncompressed"')

    def write(x, name):
        body = base64.b64encode(x.astype("<i2").tobytes()).decode()
        t = re.sub(r"(<parsedwaveforms[^>]*>).*?(</parsedwaveforms>)", lambda m: m.group(1) + body + m.group(2),
                   text, flags=re.S)
        path = tmp_path / name
        path.write_bytes(t.encode("utf-16"))
        return path

    path = write(stored, "philips_11s.xml")
    expected = np.stack([lead.samples for lead in sierraecg.read_file(str(path)).leads]).astype(np.int64)
    sig = read_ecg(path)
    assert sig.duration_s == 11.0 and "calibration_samples" not in sig.meta
    np.testing.assert_array_equal(np.round(sig.data / 0.005).astype(np.int64), expected)
    short = read_ecg(write(stored[:, :-1], "philips_short.xml"))
    assert short.n_samples == 5499 and any("header says 5500 samples, 5499 stored" in w for w in short.warnings)
    np.testing.assert_array_equal(short.data, sig.data[:, :5499])
