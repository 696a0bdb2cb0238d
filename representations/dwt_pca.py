"""`dwt_pca`: wavelet + PCA features of a 12-lead ECG for a shallow MLP, after the MI detection/localisation paper
(Applied Soft Computing 2020, PTB): 60 Hz notch, cubic-spline baseline removal, discrete wavelet decomposition,
PCA across leads fitted on the training split (12 -> 7 components for detection, 8 for localisation), four
statistics per principal component, standard scaling fitted on the training split.

The four statistics of each component's wavelet coefficients, and why these:
  1. mean of the approximation band (cA_L, below fs / 2^(L+1) = 7.8 Hz at level 5): after baseline removal the
     low band's mean is the signed area of ST segment and T wave, what ST elevation/depression moves;
  2. standard deviation of the approximation band: size of the repolarisation waves (hyperacute or flattened T);
  3. skewness of the approximation band: polarity of those waves (an inverted T or a depressed ST flips its sign,
     which mean and spread alone do not separate from a smaller wave);
  4. log energy of the QRS detail bands (levels >= 3, i.e. 7.8-62.5 Hz at level 5; D1-D2 above 62.5 Hz carry
     mostly noise): QRS amplitude, which pathological Q waves and loss of R-wave progression change.
Detection and localisation differ by the number of components only (`n_components=7` or `8`).
"""
from __future__ import annotations

import numpy as np
import pywt
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from representations._filters import notch, remove_spline_baseline
from bench.base.threads import run_chunks
from representations._leads import lead_indices
from representations.base import Representation, register_representation

N_STATS = 4
_CHUNK = 256
_KEEP_BYTES = 1 << 30  # training signals up to this size: clean and decompose them once during fit


@register_representation("dwt_pca", kind="vector")
class DwtPca(Representation):
    """Four statistics per principal component of the leads' wavelet coefficients: output (4 * n_components,).

    wavelet/level: PyWavelets decomposition (periodization mode, so bands tile the record); n_components: PCA
    components across the 12 leads; notch_hz/notch_width_hz: mains notch (0 disables); spline_baseline: remove the
    cubic-spline baseline through PR-segment knots; pca_max_rows: at most this many (ECG, coefficient) rows,
    evenly strided, fit the PCA (the 12 x 12 covariance needs no more); leads: the leads whose coefficients the PCA
    combines (default all 12; n_components must not exceed their number, e.g. 1 for a single lead).
    """

    fits_data = True
    version = "1"

    def __init__(self, *, wavelet: str = "db4", level: int = 5, n_components: int = 7, notch_hz: float = 60.0,
                 notch_width_hz: float = 5.0, spline_baseline: bool = True, pca_max_rows: int = 1_000_000,
                 leads: list[str] | None = None):
        self.wavelet = wavelet
        self.level = level
        self.n_components = n_components
        self.notch_hz = notch_hz
        self.notch_width_hz = notch_width_hz
        self.spline_baseline = spline_baseline
        self.pca_max_rows = pca_max_rows
        self.leads = leads

    # -- steps -------------------------------------------------------------------------------------------------
    def clean(self, X: np.ndarray) -> np.ndarray:
        """Notch, then spline baseline removal (the paper's order)."""
        X = np.asarray(X, dtype=np.float32)
        if self.notch_hz:
            X = notch(X, self.notch_hz, self.notch_width_hz)
        return remove_spline_baseline(X) if self.spline_baseline else X

    def coefficients(self, X: np.ndarray) -> tuple[np.ndarray, list[slice]]:
        """Wavelet coefficients (n, leads, M) of cleaned signals, bands concatenated [cA_L, cD_L, ..., cD_1], and the
        slice of each band."""
        bands = pywt.wavedec(X, self.wavelet, level=int(self.level), axis=-1, mode="periodization")
        edges = np.cumsum([0] + [b.shape[-1] for b in bands])
        return np.concatenate(bands, axis=-1).astype(np.float32), [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]

    def _stats(self, Z: np.ndarray, bands: list[slice]) -> np.ndarray:
        """(n, k, M) component coefficients -> (n, 4 * k) features, grouped by component."""
        a = Z[:, :, bands[0]].astype(np.float64)
        mu = a.mean(axis=-1)
        sd = a.std(axis=-1)
        skew = ((a - mu[..., None]) ** 3).mean(axis=-1) / np.maximum(sd, 1e-9) ** 3
        # bands[1:] run cD_L ... cD_1; detail level j = L - i + 1 for bands[i]
        qrs = [b for i, b in enumerate(bands[1:], start=1) if int(self.level) - i + 1 >= 3] or bands[1:]
        d = np.concatenate([Z[:, :, b] for b in qrs], axis=-1).astype(np.float64)
        log_energy = np.log(np.mean(d ** 2, axis=-1) + 1e-12)
        return np.stack([mu, sd, skew, log_energy], axis=-1).reshape(len(Z), -1)

    def _project(self, C: np.ndarray) -> np.ndarray:
        """(n, leads, M) coefficients -> (n, k, M) principal-component coefficients (the fitted PCA's projection,
        as one float32 matrix product instead of sklearn's per-row transform)."""
        W = self.pca_.components_.astype(np.float32)
        return np.matmul(W, C) - (W @ self.pca_.mean_.astype(np.float32))[None, :, None]

    def _coefficient_chunks(self, X: np.ndarray):
        keep = None if self.leads is None else lead_indices(self.leads, "dwt_pca")
        for i in range(0, len(X), _CHUNK):
            chunk = X[i:i + _CHUNK]
            yield self.coefficients(self.clean(chunk if keep is None else chunk[:, keep]))

    def _features_of(self, chunks) -> np.ndarray:
        out = []
        for C, bands in chunks:
            out.append(self._stats(self._project(C), bands))
        return np.concatenate(out) if out else np.zeros((0, N_STATS * int(self.n_components)))

    # -- sklearn contract --------------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y=None):
        """Fit PCA and scaler on X, the training split only."""
        X = np.asarray(X)
        if len(X) == 0:
            raise ValueError("dwt_pca: fit needs at least one training ECG")
        n_leads = len(lead_indices(self.leads, "dwt_pca"))
        if int(self.n_components) > n_leads:
            raise ValueError(f"dwt_pca: n_components {self.n_components} exceeds the {n_leads} lead(s) in leads")
        n_rows = len(X) * X.shape[-1]
        stride = max(1, int(np.ceil(n_rows / int(self.pca_max_rows))))
        keep = X.nbytes <= _KEEP_BYTES  # keep the training coefficients for the scaler, or recompute them
        rows, kept = [], []
        for C, bands in self._coefficient_chunks(X):
            rows.append(C.transpose(0, 2, 1).reshape(-1, C.shape[1])[::stride])
            if keep:
                kept.append((C, bands))
        self.pca_ = PCA(n_components=int(self.n_components), svd_solver="covariance_eigh").fit(np.concatenate(rows))
        self.scaler_ = StandardScaler().fit(self._features_of(kept if keep else self._coefficient_chunks(X)))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "pca_"):
            raise RuntimeError("dwt_pca: transform before fit (fit on the training split first)")
        X = np.asarray(X)
        features = np.empty((len(X), N_STATS * int(self.n_components)))

        def work(lo: int, hi: int) -> None:  # ECGs are independent; scipy's filters and pywt release the GIL
            features[lo:hi] = self._features_of(self._coefficient_chunks(X[lo:hi]))

        run_chunks(work, len(X))
        return self.scaler_.transform(features).astype(np.float32)

    def output_shape(self) -> tuple[int, ...]:
        return (N_STATS * int(self.n_components),)
