"""The line under every table that says which code trained its runs (the tags of bench.harness.provenance).

A reference run is rerun when code that changes its numbers lands, so a reader must be able to tell from the table
alone which commit produced it. Runs logged before the tags existed read 'commit not recorded', never a guess.
"""
from __future__ import annotations

import pandas as pd

from bench.harness.provenance import COMMIT_TAG, DIRTY_TAG, UNKNOWN


def _column(runs: pd.DataFrame, tag: str) -> pd.Series:
    col = f"tags.{tag}"
    return runs[col] if col in runs.columns else pd.Series([None] * len(runs), index=runs.index, dtype=object)


def _label(commit, dirty) -> str:
    if not isinstance(commit, str):  # None or NaN: the run has no such tag
        return "commit not recorded"
    if commit == UNKNOWN:
        return "commit unknown (not run from a git checkout)"
    text = f"commit {str(commit)[:7]}"
    return text + (" with uncommitted changes" if dirty == "true" else "")


def provenance_note(runs: pd.DataFrame) -> str:
    """'Trained at: commit d83a919 (16 runs).' or, mixed, each commit with its number of runs, most runs first."""
    if runs.empty:
        return "Trained at: no finished run."
    labels = [_label(c, d) for c, d in zip(_column(runs, COMMIT_TAG), _column(runs, DIRTY_TAG))]
    counts = pd.Series(labels).value_counts()
    parts = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "Trained at: " + ", ".join(f"{label} ({n} run{'s' if n != 1 else ''})" for label, n in parts) + "."
