"""The Signal that flows from readers to `standardise`, and the house conventions for a standard 12-lead ECG."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Lead order of every standardised signal (DESIGN.md).
STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: Sampling rate (Hz), duration (s) and length (samples) of every standardised signal.
FS = 500
DURATION_S = 10
N_SAMPLES = FS * DURATION_S


@dataclass
class Signal:
    """An ECG as decoded from a file: `data` is (n_leads, n_samples) float32 in millivolts.

    `meta` holds what the file says about the recording, with these keys when known: `device`, `acquired`
    (ISO-8601 string), `patient_id`, `statements` (list of diagnostic statement texts), plus anything reader-specific.
    `warnings` lists quality issues that do not make the ECG unusable.
    """

    data: np.ndarray
    fs: float
    leads: tuple[str, ...]
    path: str = ""
    format: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / float(self.fs)
