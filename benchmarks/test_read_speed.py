"""Read + standardise throughput per format, each against a reference implementation in the same run.

One benchmark group per format: `bench` is `standardise(read_ecg(path))` (detection, safe parsing, validation,
resampling included); `reference` is the plainest decode of the same file by a well-known library (wfdb, pydicom,
sierraecg, scipy.io) or, for formats no library reads, by the obvious stdlib/numpy code (ElementTree + base64 for
MUSE, ElementTree + float parsing for aECG, a bit-by-bit Huffman walk for SCP). pytest-benchmark prints each row's
ratio to the fastest in its group. Run with `make bench`.
"""
from __future__ import annotations

import base64
import os
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from bench.data.readers import read_ecg
from bench.data.readers.scp_ecg import DEFAULT_TABLE
from bench.data.standardise import standardise


@pytest.fixture(scope="module")
def shared_data() -> Path:
    """The real fixtures (same search as tests/conftest.py: $BENCH_SHARED_DATA, shared/data above the repo)."""
    here = Path(__file__).resolve().parents[1]
    env = os.environ.get("BENCH_SHARED_DATA")
    candidates = ([Path(env)] if env else []) + [p / "shared" / "data" for p in [here, *here.parents]]
    for c in candidates:
        if (c / "formats").is_dir() and (c / "real").is_dir():
            return c
    pytest.skip("real ECG fixtures not found: set BENCH_SHARED_DATA")


def _muse_reference(path):
    root = ET.parse(path).getroot()
    wave = [w for w in root.iter("Waveform") if w.findtext("WaveformType") == "Rhythm"][0]
    return np.stack([np.frombuffer(base64.b64decode(ld.findtext("WaveFormData")), "<i2") * 4.88e-3
                     for ld in wave.iter("LeadData")])


def _aecg_reference(path):
    root = ET.parse(path).getroot()
    return np.stack([np.array(d.text.split(), float) * 2.5e-3 for d in root.iter("{urn:hl7-org:v3}digits")][:12])


def _scp_reference(path):
    """Bit-by-bit default-table Huffman walk of section 6, then second differences."""
    b = open(path, "rb").read()
    index = struct.unpack_from("<I", b, 22 + 10 * 6 + 6)[0] - 1
    counts = struct.unpack_from("<12H", b, index + 22)
    codes = {(pre, code): (tot, base) for pre, tot, _, base, code in DEFAULT_TABLE}
    p, leads = index + 46, []
    for nbytes in counts:
        bits = "".join(f"{x:08b}" for x in b[p:p + nbytes])
        p += nbytes
        out, pos = [], 0
        while len(out) < 5000:
            for pre in range(1, 11):
                hit = codes.get((pre, int(bits[pos:pos + pre], 2)))
                if hit:
                    break
            tot, base = hit
            if tot > pre:
                v = int(bits[pos + pre:pos + tot], 2)
                base = v - (1 << (tot - pre)) if v >> (tot - pre - 1) else v
            out.append(base)
            pos += tot
        x = np.array(out, dtype=np.int64)
        for n in range(2, len(x)):
            x[n] = x[n] + 2 * x[n - 1] - x[n - 2]
        leads.append(x)
    return np.stack(leads) * 2.5e-3


def _wfdb_reference(path):
    import wfdb

    return wfdb.rdrecord(str(path.with_suffix(""))).p_signal


def _dicom_reference(path):
    import pydicom

    return pydicom.dcmread(str(path)).waveform_array(0)


def _philips_reference(path):
    import sierraecg

    return sierraecg.read_file(str(path)).leads


def _cpsc_reference(path):
    from scipy.io import loadmat

    return loadmat(str(path))["ECG"][0, 0]["data"]


CASES = {
    "muse_xml": ("formats/muse_xml/muse_ecg1.xml", _muse_reference),
    "hl7_aecg": ("formats/hl7_aecg/example_aecg.xml", _aecg_reference),
    "philips_xml": ("formats/philips_xml/3191723_ZZDEMOPTONLY_1-04_orig.xml", _philips_reference),
    "dicom": ("formats/dicom/anonymous_ecg.dcm", _dicom_reference),
    "scp": ("formats/scp/Example.scp", _scp_reference),
    "wfdb": ("real/cinc2021/HR06000.hea", _wfdb_reference),
    "wfdb_ptb_1khz": ("real/ptbdb/s0010_re.hea", _wfdb_reference),
    "cpsc_mat": ("real/cpsc2018/A1980.mat", _cpsc_reference),
}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_read_standardise(benchmark, shared_data, fmt):
    rel, _ = CASES[fmt]
    benchmark.group = fmt
    benchmark.name = f"bench[{fmt}]"
    out = benchmark(lambda: standardise(read_ecg(shared_data / rel)))
    assert out.data.shape == (12, 5000)


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_reference_decode(benchmark, shared_data, fmt):
    rel, ref = CASES[fmt]
    benchmark.group = fmt
    benchmark.name = f"reference[{fmt}]"
    out = benchmark(lambda: ref(shared_data / rel))
    assert len(out) >= 8
