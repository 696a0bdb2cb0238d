"""Writers for simulated ECGs in real file formats, so simulated data goes through the same readers as real data.

- WFDB (PhysioNet, as PTB-XL): `<record>.hea` + `<record>.dat`, format 16 (little-endian int16), 1000 adu/mV,
  12 leads. Written directly (a header line per lead and one `tobytes()`), because `wfdb.wrsamp` re-derives
  digital values and checksums through pandas-free but per-call heavy paths, ~10x slower than the file I/O itself;
  `wfdb.rdrecord` reads the result (tested).
- GE MUSE RestingECG XML, following the element structure of real MUSE 9 exports: demographics, measurements,
  diagnosis statements, and a Rhythm waveform with the 8 independent leads (I, II, V1..V6) as base64
  little-endian int16 at 4.88 uV per bit, 68-character base64 lines, CRC32 of each lead's bytes, ISO-8859-1.
"""
from __future__ import annotations

import base64
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

WFDB_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
MUSE_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
MUSE_UV_PER_BIT = 4.88


def _int16(x_mv: np.ndarray, lsb_mv: float) -> np.ndarray:
    return np.clip(np.round(x_mv / lsb_mv), -32767, 32767).astype("<i2")


def write_wfdb(path_hea: Path, x12_mv: np.ndarray, fs: int, *, age: float | None = None, sex: int | None = None,
               statements: str = "", acquired: str | None = None) -> None:
    """Write a 12-lead record: `x12_mv` (12, T) in mV in WFDB_LEADS order."""
    path_hea = Path(path_hea)
    rec = path_hea.stem
    d = _int16(x12_mv, 0.001)
    path_hea.with_suffix(".dat").write_bytes(np.ascontiguousarray(d.T).tobytes())
    checks = ((d.astype(np.int64).sum(axis=1) + 32768) % 65536) - 32768
    first = f"{rec} {d.shape[0]} {fs} {d.shape[1]}"
    if acquired:  # "YYYY-MM-DDTHH:MM:SS" -> WFDB "HH:MM:SS DD/MM/YYYY"
        date, _, time = acquired.partition("T")
        y, m, dd = date.split("-")
        first += f" {time} {dd}/{m}/{y}"
    lines = [first]
    for i, lead in enumerate(WFDB_LEADS):
        lines.append(f"{rec}.dat 16 1000.0(0)/mV 16 0 {int(d[i, 0])} {int(checks[i])} 0 {lead}")
    if age is not None:
        lines.append(f"# Age: {int(round(age))}")
    if sex is not None:
        lines.append(f"# Sex: {'Male' if sex == 1 else 'Female'}")
    if statements:
        lines.append(f"# Diagnosis: {statements}")
    path_hea.write_text("\n".join(lines) + "\n", encoding="ascii")


def _b64_lines(raw: bytes) -> str:
    s = base64.b64encode(raw).decode("ascii")
    return "\n" + "\n".join(s[i:i + 68] for i in range(0, len(s), 68)) + "\n         "


def write_muse_xml(path: Path, x8_mv: np.ndarray, fs: int, *, patient_id: str, age: float | None, sex: int | None,
                   acquired: str, statements: str = "", measurements: dict[str, float] | None = None) -> None:
    """Write a MUSE RestingECG XML: `x8_mv` (8, T) in mV in MUSE_LEADS order, `acquired` 'YYYY-MM-DDTHH:MM:SS'."""
    date, _, time = acquired.partition("T")
    y, m, d = date.split("-")
    meas = measurements or {}
    mtags = "".join(f"      <{k}>{int(round(v))}</{k}>\n" for k, v in meas.items() if v == v)
    stmts = "".join(f"      <DiagnosisStatement>\n         <StmtFlag>ENDSLINE</StmtFlag>\n"
                    f"         <StmtText>{escape(s.strip())}</StmtText>\n      </DiagnosisStatement>\n"
                    for s in statements.split(".") if s.strip())
    n = x8_mv.shape[1]
    leads = []
    for lead, row in zip(MUSE_LEADS, x8_mv):
        raw = _int16(row, MUSE_UV_PER_BIT / 1000.0).tobytes()
        leads.append(
            "      <LeadData>\n"
            f"         <LeadByteCountTotal>{len(raw)}</LeadByteCountTotal>\n"
            "         <LeadTimeOffset>0</LeadTimeOffset>\n"
            f"         <LeadSampleCountTotal>{n}</LeadSampleCountTotal>\n"
            f"         <LeadAmplitudeUnitsPerBit>{MUSE_UV_PER_BIT}</LeadAmplitudeUnitsPerBit>\n"
            "         <LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits>\n"
            "         <LeadHighLimit>32767</LeadHighLimit>\n"
            "         <LeadLowLimit>-32768</LeadLowLimit>\n"
            f"         <LeadID>{lead}</LeadID>\n"
            "         <LeadOffsetFirstSample>0</LeadOffsetFirstSample>\n"
            "         <FirstSampleBaseline>0</FirstSampleBaseline>\n"
            "         <LeadSampleSize>2</LeadSampleSize>\n"
            "         <LeadOff>FALSE</LeadOff>\n"
            "         <BaselineSway>FALSE</BaselineSway>\n"
            f"         <LeadDataCRC32>{zlib.crc32(raw)}</LeadDataCRC32>\n"
            f"         <WaveFormData>{_b64_lines(raw)}</WaveFormData>\n"
            "      </LeadData>\n")
    gender = "" if sex is None else f"      <Gender>{'MALE' if sex == 1 else 'FEMALE'}</Gender>\n"
    age_tag = "" if age is None else f"      <PatientAge>{int(age)}</PatientAge>\n      <AgeUnits>YEARS</AgeUnits>\n"
    xml = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        '<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n'
        "<RestingECG>\n"
        "   <MuseInfo>\n      <MuseVersion>9.0.9.18167</MuseVersion>\n   </MuseInfo>\n"
        "   <PatientDemographics>\n"
        f"      <PatientID>{escape(patient_id)}</PatientID>\n{age_tag}{gender}"
        "   </PatientDemographics>\n"
        "   <TestDemographics>\n"
        "      <DataType>RESTING</DataType>\n"
        "      <AcquisitionDevice>ECG RepBench simulator</AcquisitionDevice>\n"
        "      <Status>CONFIRMED</Status>\n"
        f"      <AcquisitionTime>{time}</AcquisitionTime>\n"
        f"      <AcquisitionDate>{m}-{d}-{y}</AcquisitionDate>\n"
        "   </TestDemographics>\n"
        f"   <RestingECGMeasurements>\n{mtags}"
        f"      <ECGSampleBase>{fs}</ECGSampleBase>\n      <ECGSampleExponent>0</ECGSampleExponent>\n"
        "   </RestingECGMeasurements>\n"
        f"   <Diagnosis>\n      <Modality>RESTING</Modality>\n{stmts}   </Diagnosis>\n"
        "   <Waveform>\n"
        "      <WaveformType>Rhythm</WaveformType>\n"
        "      <WaveformStartTime>0</WaveformStartTime>\n"
        f"      <NumberofLeads>{len(MUSE_LEADS)}</NumberofLeads>\n"
        "      <SampleType>CONTINUOUS_SAMPLES</SampleType>\n"
        f"      <SampleBase>{fs}</SampleBase>\n"
        "      <SampleExponent>0</SampleExponent>\n"
        "      <HighPassFilter>5</HighPassFilter>\n"
        "      <LowPassFilter>150</LowPassFilter>\n"
        "      <ACFilter>NONE</ACFilter>\n"
        + "".join(leads) +
        "   </Waveform>\n"
        "</RestingECG>\n"
    )
    Path(path).write_bytes(xml.encode("iso-8859-1"))
