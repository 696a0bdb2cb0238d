"""Drawing helpers shared by the report's figure modules (`figures`, `curves`): fixed style, panel grids, colours,
and byte-deterministic saving (no dates or software versions in PNG/PDF metadata)."""
from __future__ import annotations

import math
from pathlib import Path

STYLE = {"font.size": 9, "pdf.fonttype": 42, "svg.hashsalt": "repbench"}
PNG_META = {"Software": None}
PDF_META = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}


def styled(fn):
    """Draw and save under the report's fixed rcParams, whatever the caller's matplotlib settings."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def new_figure(n_panels: int, *, ncols: int = 2, panel=(5.6, 4.0)):
    """A Figure with n panels in a grid (no pyplot state: figures are independent and thread-safe)."""
    from matplotlib.figure import Figure

    ncols = max(1, min(ncols, n_panels))
    nrows = max(1, math.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained", dpi=100)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def save(fig, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    png, pdf = out_dir / f"{name}.png", out_dir / f"{name}.pdf"
    fig.savefig(png, dpi=150, metadata=PNG_META)
    fig.savefig(pdf, metadata=PDF_META)
    return [png, pdf]


def colours(ids: list[str]) -> dict[str, tuple]:
    """A fixed colour per id (tab10, then tab20), assigned in sorted order so every figure agrees."""
    from matplotlib import colormaps

    pal = list(colormaps["tab10"].colors) + list(colormaps["tab20"].colors[1::2])
    return {k: pal[i % len(pal)] for i, k in enumerate(sorted(ids))}
