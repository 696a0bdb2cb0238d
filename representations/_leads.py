"""Lead subsets shared by the representations (`leads` parameter of raw, image and dwt_pca): which rows of the
standardised (12, T) signal a representation keeps, e.g. ("I",) for a single-lead device or the 8 independent
leads I, II, V1-V6 (the other four are linear combinations of I and II)."""
from __future__ import annotations

from collections.abc import Sequence

from bench.base.signal import STANDARD_LEADS

INDEPENDENT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def lead_subset(leads: Sequence[str] | str | None, owner: str) -> tuple[str, ...]:
    """The leads as a tuple in the standard order (None = all 12); an unknown or repeated name raises one line
    naming the valid ones."""
    if leads is None:
        return STANDARD_LEADS
    names = (leads,) if isinstance(leads, str) else tuple(leads)
    unknown = [n for n in names if n not in STANDARD_LEADS]
    if unknown or not names or len(set(names)) != len(names):
        why = f"unknown lead(s) {unknown}" if unknown else "an empty or repeated lead list"
        raise ValueError(f"{owner}: leads has {why}; valid names: {', '.join(STANDARD_LEADS)}")
    return tuple(n for n in STANDARD_LEADS if n in names)


def lead_indices(leads: Sequence[str] | str | None, owner: str) -> list[int]:
    """Row indices into the standardised signal of `lead_subset(leads)`."""
    return [STANDARD_LEADS.index(n) for n in lead_subset(leads, owner)]
