"""Representation contract (scikit-learn transformer).

`__init__` stores keyword parameters unchanged; `fit(X)` learns attributes ending in `_` from the training split
only and returns self; `transform(X)` maps a batch of standardised signals (n, 12, 5000) float32 to model inputs
(n, *output_shape). uint8 outputs are images in 0..255 (the loader scales them to 0..1). Each registered class
declares `kind`: "sequence" (C x T), "image" (3 x H x W) or "vector" (D).
A cell clones a fresh instance (sklearn.base.clone), so nothing fitted crosses cells or splits.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from bench.base.registry import Registry

REPRESENTATIONS: Registry = Registry("representation", package="representations")
KINDS = ("sequence", "image", "vector")


def register_representation(name: str, *, kind: str):
    if kind not in KINDS:
        raise ValueError(f"representation {name!r}: kind must be one of {KINDS}, not {kind!r}")

    def deco(cls):
        cls.kind = kind
        cls.name = name
        return REPRESENTATIONS.register(name, kind=kind)(cls)

    return deco


class Representation(TransformerMixin, BaseEstimator):
    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    #: True when `fit` learns from data (then the cache key includes the training split).
    fits_data: ClassVar[bool] = False

    def fit(self, X: np.ndarray, y=None):
        return self

    def output_shape(self) -> tuple[int, ...]:
        """Shape of one transformed ECG (after fit)."""
        raise NotImplementedError
