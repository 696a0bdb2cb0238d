"""Fuzzing: any bytes give a Signal or an ECGReadError, never another exception and never a hang.

Three sources of bytes: random bytes behind each format's magic/root element, byte-level mutations (overwrites,
insertions, truncation) of the real fixtures, and mutated WFDB header/signal pairs. Example counts are bounded and
the run is derandomised so CI is repeatable (see FUZZ for a longer random campaign); each example has a deadline
and the whole test a timeout.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.base.errors import ECGReadError
from bench.data.readers import read_ecg
from bench.base.signal import Signal

# BENCH_FUZZ_EXAMPLES=2000 BENCH_FUZZ_RANDOM=1 runs a longer, randomised campaign locally
FUZZ = settings(max_examples=int(os.environ.get("BENCH_FUZZ_EXAMPLES", 60)), deadline=timedelta(seconds=10),
                derandomize=not os.environ.get("BENCH_FUZZ_RANDOM"), database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

PREFIXES = [
    b"",
    b"\x00" * 128 + b"DICM",
    b"MATLAB 5.0 MAT-file, Platform: PCWIN64" + b" " * 86 + b"\x00\x01IM",
    b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<RestingECG><Waveform><WaveformType>Rhythm</WaveformType>',
    b'<?xml version="1.0"?><AnnotatedECG xmlns="urn:hl7-org:v3"><component><series><code code="RHYTHM"/>',
    b'\xff\xfe<\x00r\x00e\x00s\x00t\x00i\x00n\x00g\x00e\x00c\x00g\x00d\x00a\x00t\x00a\x00>\x00',
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x88\x00\x00\x00\x14\x14SCPECG",
]
FIXTURES = [
    "formats/muse_xml/muse_ecg1.xml",
    "formats/hl7_aecg/example_aecg.xml",
    "formats/philips_xml/3191723_ZZDEMOPTONLY_1-04_orig.xml",
    "formats/dicom/anonymous_ecg.dcm",
    "formats/scp/Example.scp",
    "real/cpsc2018/A1980.mat",
]
_CACHE: dict[str, bytes] = {}


def _read_or_error(path: Path) -> None:
    try:
        sig = read_ecg(path)
    except ECGReadError as e:
        assert str(e).startswith(str(path))
        return
    assert isinstance(sig, Signal) and sig.data.dtype == np.float32 and np.isfinite(sig.data).all()


def _mutate(data: bytes, edits, cut: float | None) -> bytes:
    b = bytearray(data)
    for frac, chunk, insert in edits:
        pos = int(frac * len(b))
        if insert:
            b[pos:pos] = chunk
        else:
            b[pos:pos + len(chunk)] = chunk
    if cut is not None:
        b = b[: int(cut * len(b))]
    return bytes(b)


@pytest.mark.timeout(300)
@FUZZ
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=3000),
       suffix=st.sampled_from([".xml", ".scp", ".dcm", ".mat", ".bin", ".hea"]))
def test_random_bytes(tmp_path_factory, prefix, body, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"ecg{suffix}"
    path.write_bytes(prefix + body)
    _read_or_error(path)


edit = st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=16), st.booleans())


@pytest.mark.timeout(300)
@FUZZ
@given(which=st.sampled_from(FIXTURES), edits=st.lists(edit, min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.floats(0.01, 1.0)))
def test_mutated_fixtures(shared_data, tmp_path_factory, which, edits, cut):
    if which not in _CACHE:
        _CACHE[which] = (shared_data / which).read_bytes()
    path = tmp_path_factory.mktemp("fuzz") / Path(which).name
    path.write_bytes(_mutate(_CACHE[which], edits, cut))
    _read_or_error(path)


@pytest.mark.timeout(300)
@FUZZ
@given(edits=st.lists(edit, max_size=4), dat=st.one_of(st.none(), st.binary(max_size=4000)),
       cut=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_mutated_wfdb(shared_data, tmp_path_factory, edits, dat, cut):
    d = tmp_path_factory.mktemp("fuzz")
    header = (shared_data / "real/ptbxl/00001_lr.hea").read_bytes()
    (d / "00001_lr.hea").write_bytes(_mutate(header, edits, None))
    signal = (shared_data / "real/ptbxl/00001_lr.dat").read_bytes()
    (d / "00001_lr.dat").write_bytes(dat if dat is not None else _mutate(signal, [], cut))
    _read_or_error(d / "00001_lr.hea")


XML_FIXTURES = [(FIXTURES[0], "latin-1"), (FIXTURES[1], "utf-8"), (FIXTURES[2], "utf-16")]
printable = st.text(alphabet="0123456789+-/=. ABCDEFabcdefxyz", min_size=1, max_size=8)


@pytest.mark.timeout(300)
@FUZZ
@given(which=st.sampled_from(XML_FIXTURES), edits=st.lists(st.tuples(st.floats(0, 1), printable), min_size=1,
                                                           max_size=6))
def test_mutated_xml_text(shared_data, tmp_path_factory, which, edits):
    """Printable edits keep the XML well-formed more often, so the base64/digits/XLI decoders get the damage."""
    rel, encoding = which
    key = rel + encoding
    if key not in _CACHE:
        _CACHE[key] = (shared_data / rel).read_bytes().decode(encoding)
    text = _CACHE[key]
    for frac, chunk in edits:
        pos = int(frac * len(text))
        text = text[:pos] + chunk + text[pos + len(chunk):]
    path = tmp_path_factory.mktemp("fuzz") / Path(rel).name
    path.write_bytes(text.encode(encoding))
    _read_or_error(path)
