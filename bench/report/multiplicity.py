"""Holm's step-down adjustment of a table's p-values (Holm, Scand J Statist 1979), controlling the family-wise
error rate over every comparison a table makes.

Hand-written (a few lines) because scipy has no multiple-testing correction and statsmodels (whose
`multipletests(method="holm")` it matches) is not a dependency of this project.
"""
from __future__ import annotations

import numpy as np


def holm(pvalues) -> tuple[np.ndarray, int]:
    """(Holm-adjusted p-values in the input order, the number of p-values adjusted). NaN p-values (a comparison
    that was not made) stay NaN and do not count in the family."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m:
        order = ok[np.argsort(p[ok], kind="mergesort")]
        step = (m - np.arange(m)) * p[order]  # (m - j + 1) p_(j), j = 1..m
        out[order] = np.minimum(1.0, np.maximum.accumulate(step))
    return out, m
