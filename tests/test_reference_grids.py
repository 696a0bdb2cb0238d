"""Every committed reference folder's `grid.toml` (the file its tables were made from, commands in its header) still
loads and expands under today's code, so the README's "rebuild with `--grid results/<folder>/grid.toml`" holds.
A reference grid that copies a built-in one must expand to the same cells (the same resolved configs, so the same
keys on the same data), or its tables and the built-in grid would describe different runs."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from bench.harness.grid import builtin_grids, load_grid

RESULTS = Path(__file__).resolve().parents[1] / "results"
REFERENCE_GRIDS = sorted(RESULTS.glob("reference*/grid.toml"))


def test_reference_folders_have_grids():
    assert len(REFERENCE_GRIDS) >= 4, f"expected the committed reference grids under {RESULTS}"


@pytest.mark.parametrize("path", REFERENCE_GRIDS, ids=lambda p: p.parent.name)
def test_reference_grid_loads_and_expands(path, request, monkeypatch):
    source = tomllib.loads(path.read_text()).get("source", "")
    if "${BENCH_PTBXL}" in source:
        monkeypatch.setenv("BENCH_PTBXL", str(request.getfixturevalue("ptbxl_subset")))
    grid = load_grid(str(path))
    cells, _ = grid.expand()
    assert cells, f"{path}: no cells"
    assert len({c.label for c in cells}) == len(cells), f"{path}: two cells share a label"
    if grid.name in builtin_grids():
        builtin, _ = load_grid(grid.name).expand()
        assert sorted(map(_identity, cells)) == sorted(map(_identity, builtin)), \
            f"{path} is named after the built-in grid {grid.name!r} but expands to other cells"


def _identity(cell) -> str:
    """What a cell's key hashes besides the data and versions: its resolved config less the grid's name."""
    cfg = cell.config()
    cfg.pop("grid")
    return json.dumps(cfg, sort_keys=True)
