"""`raw`: the standardised (12, 5000) matrix, as the ECG-AI 1D CNN takes it (Circulation 2022)."""
from __future__ import annotations

import numpy as np

from bench.base.signal import N_SAMPLES
from representations._leads import lead_indices
from representations.base import Representation, register_representation

NORMALISATIONS = ("ecg", "lead", "none")


@register_representation("raw", kind="sequence")
class Raw(Representation):
    """The signal in mV, optionally z-scored per ECG.

    normalise: "none" (the default: millivolts as recorded, so absolute voltage such as low QRS voltage reaches the
    model, as it reaches an image model through the 10 mm/mV print), "ecg" (ECG-AI: one mean and standard deviation
    over all leads and samples of each ECG, which erases absolute voltage) or "lead" (each lead on its own). Input
    scaling for millivolts lives in the models (a fixed 0.2 mV, `ECG_MV_STD` in models/_contract.py), not here.
    Nothing is fitted, so no statistic crosses splits.
    leads: the leads kept, in the standard order (e.g. ["I"] or the 8 independent leads; default all 12); "ecg"
    normalisation then pools the kept leads only.
    """

    version = "2"  # 2: default normalise "ecg" -> "none"

    def __init__(self, *, normalise: str = "none", eps: float = 1e-6, leads: list[str] | None = None):
        self.normalise = normalise
        self.eps = eps
        self.leads = leads

    def _check(self) -> None:
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"raw: normalise must be one of {NORMALISATIONS}, not {self.normalise!r}")

    def transform(self, X: np.ndarray) -> np.ndarray:
        self._check()
        X = np.asarray(X, dtype=np.float32)
        if self.leads is not None:
            X = X[:, lead_indices(self.leads, "raw")]
        if self.normalise == "none":
            return X.copy()
        axes = (1, 2) if self.normalise == "ecg" else (2,)
        mu = X.mean(axis=axes, keepdims=True)
        sd = X.std(axis=axes, keepdims=True)
        return ((X - mu) / np.maximum(sd, self.eps)).astype(np.float32)

    def output_shape(self) -> tuple[int, ...]:
        return (len(lead_indices(self.leads, "raw")), N_SAMPLES)
