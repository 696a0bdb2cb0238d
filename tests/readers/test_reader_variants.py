"""Vendor and version variants, made from the real fixtures by rewriting them the way other writers do.

Each variant must decode to the same millivolts as the original: Philips 1.03 layout (no lead labels, signal
resolution in signalcharacteristics, compressmethod attribute, UTF-8), MUSE with all 12 leads stored and a UTF-16
export, an aECG writer that splits the leads into several sequenceSets with a GLIST_PQ time axis in ms and mV scales,
a DICOM writer without multiplex labels, with MDC lead codes and millivolt sensitivities, and a GE CardioSoft
CardiologyXML (UK Biobank layout) built from the aECG fixture's counts.
"""
from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from bench.data.readers import read_ecg
from bench.data.standardise import standardise

PHILIPS = "formats/philips_xml/3191723_ZZDEMOPTONLY_1-04_orig.xml"
MUSE = "formats/muse_xml/muse_ecg1.xml"
AECG = "formats/hl7_aecg/example_aecg.xml"
DICOM = "formats/dicom/anonymous_ecg.dcm"


def _same(a, b, atol=1e-4):
    assert a.leads == b.leads and a.fs == b.fs
    np.testing.assert_allclose(a.data, b.data, atol=atol)


def test_philips_103_layout(shared_data, tmp_path):
    text = (shared_data / PHILIPS).read_text("utf-16")
    text = text.replace('encoding="utf-16"', 'encoding="UTF-8"')
    text = text.replace("<documenttype>PhilipsECG</documenttype>", "<documenttype>SierraECG</documenttype>")
    text = text.replace("<documentversion>1.04</documentversion>", "<documentversion>1.03</documentversion>")
    text = text.replace("<resolution>5</resolution>", "<signalresolution>2.5</signalresolution>")  # half of 1.04
    text = text.replace("<acquisitiontype>10-WIRE</acquisitiontype>", "<acquisitiontype>STD-12</acquisitiontype>")
    text = re.sub(r"<parsedwaveforms [^>]*>",
                  '<parsedwaveforms compressflag="True" compressmethod="XLI" filterflag="True" dataencoding="Base64" '
                  'durationperchannel="11000" nbitspersample="16">', text)
    path = tmp_path / "philips103.xml"
    path.write_bytes(text.encode("utf-8"))
    sig = read_ecg(path)
    assert sig.meta["philips_version"] == "1.03"
    ref = read_ecg(shared_data / PHILIPS)
    ref.data = ref.data / 2
    _same(sig, ref)


def test_philips_uncompressed_with_plain_limb_leads(shared_data, tmp_path):
    """An uncompressed export storing all 12 leads plainly: no residual rebuild must happen."""
    ref = read_ecg(shared_data / PHILIPS)
    ecg = ref.data[:, :ref.n_samples - ref.meta["calibration_samples"]["end"]]  # the 5,300 samples of ECG
    raw = np.round(np.pad(ecg, ((0, 0), (0, 200))) / 0.005).astype("<i2")
    text = (shared_data / PHILIPS).read_text("utf-16")
    text = re.sub(r'compression="XLI"', 'compression="Uncompressed"', text)
    text = re.sub(r"(<parsedwaveforms[^>]*>).*?(</parsedwaveforms>)",
                  lambda m: m.group(1) + base64.b64encode(raw.tobytes()).decode() + m.group(2), text, flags=re.S)
    path = tmp_path / "philips_raw.xml"
    path.write_bytes(text.encode("utf-16"))
    sig = read_ecg(path)
    assert "limb_leads" not in sig.meta
    np.testing.assert_allclose(sig.data[:, :5300], ecg, atol=0.003)


def test_muse_twelve_stored_leads_utf16(shared_data, tmp_path):
    ref = read_ecg(shared_data / MUSE)
    full = standardise(ref)
    text = (shared_data / MUSE).read_text("latin-1")
    rhythm_at = text.index("<WaveformType>Rhythm")
    last = text.rindex("</LeadData>") + len("</LeadData>")
    v6 = text[text.rindex("<LeadData>", 0, last):last]
    extra = ""
    for lead in ("III", "aVR", "aVL", "aVF"):
        x = np.round(full.data[full.leads.index(lead)] / 0.00488).astype("<i2")
        block = re.sub(r"<LeadID>V6</LeadID>", f"<LeadID>{lead}</LeadID>", v6)
        extra += re.sub(r"<WaveFormData>.*?</WaveFormData>",
                        f"<WaveFormData>{base64.b64encode(x.tobytes()).decode()}</WaveFormData>", block, flags=re.S)
    assert last > rhythm_at
    text = text[:last] + extra + text[last:]
    text = text.replace('encoding="ISO-8859-1"', 'encoding="UTF-16"')
    path = tmp_path / "muse12.xml"
    path.write_bytes(text.encode("utf-16"))
    sig = read_ecg(path)
    assert sig.leads[-4:] == ("III", "aVR", "aVL", "aVF") and sig.n_samples == 5000
    out = standardise(sig)
    assert out.meta["standardise"]["derived_leads"] == []
    np.testing.assert_allclose(out.data, full.data, atol=0.005)


def test_aecg_split_sequence_sets_ms_time_mv_scale(shared_data, tmp_path):
    text = (shared_data / AECG).read_text("utf-8")
    start = text.index("<sequenceSet>")
    end = text.index("</sequenceSet>") + len("</sequenceSet>")
    block = text[start:end]
    comps = re.findall(r"<component>\s*<sequence>.*?</sequence>\s*</component>", block, flags=re.S)
    time, leads = comps[0], comps[1:]
    time = re.sub(r'<value xsi:type="GLIST_TS">.*?</value>',
                  '<value xsi:type="GLIST_PQ"><head value="0" unit="ms"/><increment value="2" unit="ms"/></value>',
                  time, flags=re.S)
    leads = [c.replace('<scale value="2.5" unit="uV"/>', '<scale value="0.0025" unit="mV"/>') for c in leads]
    sets = "".join("<sequenceSet>" + time + "".join(group) + "</sequenceSet></component><component>"
                   for group in (leads[:6], leads[6:]))
    sets = sets[: -len("</component><component>")]
    path = tmp_path / "aecg_split.xml"
    path.write_text(text[:start] + sets + text[end:], encoding="utf-8")
    _same(read_ecg(path), read_ecg(shared_data / AECG), atol=1e-5)


def test_dicom_other_writer(shared_data, tmp_path):
    import pydicom

    ds = pydicom.dcmread(str(shared_data / DICOM))
    mdc = {"5.6.3-9-%d" % k: "2:%d" % k for k in range(1, 70)}
    for g in ds.WaveformSequence:
        del g.MultiplexGroupLabel
        for ch in g.ChannelDefinitionSequence:
            src = ch.ChannelSourceSequence[0]
            src.CodeValue, src.CodingSchemeDesignator = mdc[src.CodeValue], "MDC"
            src.CodeMeaning = "lead"
            ch.ChannelSensitivity = "0.00125"
            ch.ChannelSensitivityUnitsSequence[0].CodeValue = "mV"
    del ds.AcquisitionDateTime
    path = tmp_path / "other.dcm"
    ds.save_as(str(path))
    sig = read_ecg(path)
    ref = read_ecg(shared_data / DICOM)
    assert sig.n_samples == 10000  # the longest group, not the 1.2 s median beat
    assert sig.meta["acquired"] is not None
    _same(sig, ref, atol=1e-5)


@pytest.mark.parametrize("fs", [250, 1000])
def test_wfdb_other_rates(shared_data, tmp_path, fs):
    """A WFDB writer at another rate (resampled from a real 500 Hz record) reads and standardises back."""
    import wfdb
    from scipy.signal import resample_poly

    ref = read_ecg(shared_data / "real/cinc2021/HR06000.hea")
    x = resample_poly(ref.data.astype(np.float64), fs, 500, axis=1)
    wfdb.wrsamp("rec", fs=fs, units=["uV"] * 12, sig_name=[s.lower() for s in ref.leads], p_signal=(x * 1000).T,
                fmt=["16"] * 12, write_dir=str(tmp_path))
    sig = read_ecg(tmp_path / "rec.hea")
    assert sig.fs == fs and sig.leads == ref.leads
    out = standardise(sig)
    corr = [np.corrcoef(a[100:-100], b[100:-100])[0, 1] for a, b in zip(out.data, standardise(ref).data)]
    assert min(corr) > 0.98


def test_long_comment_header_before_the_root(shared_data, tmp_path):
    """Some writers put kilobytes of comments (licences, generator notes) before the root element."""
    text = (shared_data / AECG).read_text("utf-8")
    i = text.index("<AnnotatedECG")
    path = tmp_path / "commented.xml"
    path.write_text(text[:i] + "<!-- <notes> " + "generator notes " * 1000 + " -->\n" + text[i:], encoding="utf-8")
    assert read_ecg(path).format == "hl7_aecg"


def _cardiosoft(ref, *, resolution='<Resolution units="uVperLsb">5</Resolution>', strip=True):
    """A GE CardioSoft CardiologyXML document (UK Biobank layout) holding `ref` as 5 uV counts."""
    counts = np.round(ref.data / 0.005).astype(int)
    median = "".join(f'<WaveformData lead="{lead}">' + ",".join("9999" for _ in range(600)) + "</WaveformData>\n"
                     for lead in ref.leads)

    def csv(row):  # CardioSoft wraps the counts over many lines, with a trailing comma on each
        return "\n".join(",".join(map(str, row[i:i + 20])) + "," for i in range(0, len(row), 20))

    leads = "".join(f'<WaveformData lead="{lead}">\n{csv(row)}\n</WaveformData>\n'
                    for lead, row in zip(ref.leads, counts))
    strip_xml = (f'<StripData>\n<NumberOfLeads>{len(ref.leads)}</NumberOfLeads>\n'
                 f'<SampleRate units="Hz">{int(ref.fs)}</SampleRate>\n'
                 f'<ChannelSampleCountTotal>{ref.n_samples}</ChannelSampleCountTotal>\n{resolution}\n'
                 f'{leads}</StripData>\n') if strip else ""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<CardiologyXML>\n<ObservationType>RestECG</ObservationType>\n'
        '<ObservationDateTime><Hour>14</Hour><Minute>5</Minute><Second>9</Second><Day>3</Day><Month>6</Month>'
        '<Year>2015</Year></ObservationDateTime>\n'
        '<ClinicalInfo><DeviceInfo><Desc>CARDIOSOFT</Desc><SoftwareVer>6.73</SoftwareVer></DeviceInfo></ClinicalInfo>\n'
        '<PatientInfo><PID>1234567</PID><Name><FamilyName>M\u00fcller</FamilyName></Name></PatientInfo>\n'
        '<Interpretation><Diagnosis><DiagnosisText>Sinus rhythm</DiagnosisText>'
        '<DiagnosisText>Normal ECG</DiagnosisText></Diagnosis></Interpretation>\n'
        '<RestingECGMeasurements><MedianSamples><NumberOfLeads>12</NumberOfLeads>'
        '<SampleRate units="Hz">500</SampleRate><ChannelSampleCountTotal>600</ChannelSampleCountTotal>'
        f'<Resolution units="uVperLsb">5</Resolution>{median}</MedianSamples></RestingECGMeasurements>\n'
        f'{strip_xml}</CardiologyXML>\n'
    ).encode("iso-8859-1")


def test_cardiosoft_cardiology_xml(shared_data, tmp_path):
    """GE CardioSoft (UK Biobank 20205): comma-separated counts x Resolution uV from StripData, never the median."""
    ref = read_ecg(shared_data / AECG)
    path = tmp_path / "ukb_20205.xml"
    path.write_bytes(_cardiosoft(ref))
    sig = read_ecg(path)
    assert sig.format == "cardiosoft_xml" and sig.n_samples == 5000
    _same(sig, ref, atol=0.0026)  # 5 uV counts
    v2 = float(np.abs(sig.data[sig.leads.index("V2")]).max())
    assert 1.5 < v2 < 2.5 and abs(v2 - float(np.abs(ref.data[ref.leads.index("V2")]).max())) < 0.003  # QRS in mV
    assert sig.meta["statements"] == ["Sinus rhythm", "Normal ECG"]
    assert sig.meta["acquired"] == "2015-06-03T14:05:09" and sig.meta["patient_id"] == "1234567"


def test_cardiosoft_resolution_units_and_missing_strip(shared_data, tmp_path):
    from bench.base.errors import ECGCorruptError, ECGValidationError

    ref = read_ecg(shared_data / AECG)
    path = tmp_path / "mv.xml"  # the same counts declared in millivolts per count
    path.write_bytes(_cardiosoft(ref, resolution='<Resolution units="mVperLsb">0.005</Resolution>'))
    _same(read_ecg(path), ref, atol=0.0026)
    path.write_bytes(_cardiosoft(ref, resolution=""))
    with pytest.raises(ECGValidationError, match="Resolution"):
        read_ecg(path)
    path.write_bytes(_cardiosoft(ref, strip=False))
    with pytest.raises(ECGCorruptError, match="no StripData"):
        read_ecg(path)


def test_cardiosoft_count_one_above_what_is_stored(shared_data, tmp_path):
    """ChannelSampleCountTotal one above the counts each lead holds: read what is stored, warn; two above: truncated."""
    from bench.base.errors import ECGCorruptError

    ref = read_ecg(shared_data / AECG)
    doc = _cardiosoft(ref)
    path = tmp_path / "ukb.xml"
    path.write_bytes(doc.replace(b"<ChannelSampleCountTotal>5000<", b"<ChannelSampleCountTotal>5001<"))
    sig = read_ecg(path)
    assert sig.n_samples == 5000 and "CardioSoft StripData: header says 5001 samples, 5000 stored; read the 5000 " \
                                      "stored" in sig.warnings
    _same(sig, ref, atol=0.0026)
    path.write_bytes(doc.replace(b"<ChannelSampleCountTotal>5000<", b"<ChannelSampleCountTotal>5002<"))
    with pytest.raises(ECGCorruptError, match="5000 samples stored, header says 5002"):
        read_ecg(path)
