"""Shared fixtures. Real ECG fixtures live outside the repository (see README, "Data"); tests that need them skip
with a message saying where to put them when they are absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_shared_data() -> Path | None:
    """$BENCH_SHARED_DATA, else a `shared/data` folder beside or above the repository."""
    env = os.environ.get("BENCH_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [p / "shared" / "data" for p in [REPO, *REPO.parents]]
    for c in candidates:
        if (c / "formats").is_dir() and (c / "real").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = find_shared_data()
    if d is None:
        pytest.skip("real ECG fixtures not found: set BENCH_SHARED_DATA to the folder holding formats/ and real/")
    return d


@pytest.fixture(scope="session")
def ptbxl_subset(shared_data) -> Path:
    """The real PTB-XL subset (official folder layout), or a skip saying where it was looked for."""
    path = shared_data / "real" / "ptbxl_subset"
    if not (path / "ptbxl_database.csv").is_file():
        pytest.skip(f"PTB-XL subset not found at {path}")
    return path
