"""CPSC 2018 MATLAB files: a struct `ECG` with `sex`, `age` and `data` (12 x n, mV, 500 Hz), read with scipy.io.

The files carry no rate or lead names; CPSC 2018 defines them for the whole set (500 Hz; I, II, III, aVR, aVL, aVF,
V1-V6), so they are taken from there. A MATLAB file that has a WFDB header beside it is read as WFDB instead.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.base.errors import ECGCorruptError
from bench.data.readers.base import register_format
from bench.base.signal import STANDARD_LEADS, Signal

CPSC_FS = 500.0


def sniff(head: bytes, path: Path) -> bool:
    return head.startswith(b"MATLAB 5.0 MAT-file")


def _scalar(v):
    a = np.asarray(v).ravel()
    if a.size == 0:
        return None
    x = a[0]
    if isinstance(x, np.ndarray):
        return _scalar(x)
    return x.item() if hasattr(x, "item") else x


@register_format("cpsc_mat", sniff=sniff, priority=30, label="CPSC 2018 MATLAB struct")
def read(path: Path) -> Signal:
    from scipy.io import loadmat

    mat = loadmat(str(path), variable_names=["ECG"])
    if "ECG" not in mat:
        raise ECGCorruptError(path, "MATLAB file has no variable 'ECG'")
    ecg = mat["ECG"]
    if ecg.dtype.names is None or "data" not in ecg.dtype.names:
        raise ECGCorruptError(path, "MATLAB variable 'ECG' is not a struct with a 'data' field")
    data = np.asarray(ecg[0, 0]["data"], dtype=np.float64)
    if data.ndim != 2 or 12 not in data.shape:
        raise ECGCorruptError(path, f"ECG.data has shape {data.shape}, expected 12 leads")
    if data.shape[0] != 12:
        data = data.T
    fields = ecg.dtype.names
    meta = {
        "device": None, "acquired": None, "patient_id": None, "statements": [],
        "sex": _scalar(ecg[0, 0]["sex"]) if "sex" in fields else None,
        "age": _scalar(ecg[0, 0]["age"]) if "age" in fields else None,
        "assumed": "500 Hz and lead order I..V6 per CPSC 2018",
    }
    return Signal(data=data.astype(np.float32), fs=CPSC_FS, leads=STANDARD_LEADS, meta=meta)
