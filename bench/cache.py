"""Representation cache (placeholder contract; the full memory-mapped cache replaces the body).

`build_features(rep, cohort, train_idx, cache_dir)` returns (n, *rep.output_shape()) model inputs for every row of
the cohort, the representation fitted on `cohort.signals[train_idx]` only.
"""
from __future__ import annotations

import numpy as np


def build_features(rep, cohort, train_idx: np.ndarray, cache_dir=None) -> np.ndarray:
    rep.fit(cohort.signals[np.sort(train_idx)])
    return rep.transform(cohort.signals)
