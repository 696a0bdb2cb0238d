"""Paper tables and figures from a grid's MLflow runs: `build_report(uri, experiment, out)` writes
`out/tables/*.md|.tex|.csv` and `out/figures/*.png|.pdf`, a pure, deterministic function of the stored runs (and of
`out/timing.csv`, the training-time ratios `python -m bench timing` measured within one process, when present)."""
from __future__ import annotations

from pathlib import Path


def build_report(tracking_uri: str, experiment: str, out: Path | str, *, grid: str | None = None,
                 figures: bool = True, n_boot: int = 200, seed: int = 0) -> list[Path]:
    """Write every table (and figure) for `experiment`; returns the files written, sorted."""
    from bench.report.comparison import read_timing
    from bench.report.runs import load_runs
    from bench.report.tables import build_tables
    from bench.report.writers import write_table

    out = Path(out)
    timing = read_timing(out / "timing.csv")  # `python -m bench timing`'s within-process ratios, if measured
    rs = load_runs(tracking_uri, experiment, grid=grid)
    agg, tables = build_tables(rs, n_boot=n_boot, seed=seed, timing=timing)
    written: list[Path] = []
    for t in tables:
        written += write_table(t, out / "tables")
    if figures:
        from bench.report.figures import build_figures

        written += build_figures(rs, agg, out / "figures")
    return sorted(written)
