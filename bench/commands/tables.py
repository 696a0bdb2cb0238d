"""`python -m bench tables [--experiment NAME] [--tracking-uri URI] [--out results/]`: the paper's tables and figures
rebuilt from a grid's MLflow runs (no retraining)."""
from __future__ import annotations

from pathlib import Path

from bench.commands._common import add_store_options, at_least_one, resolve_paths


def register(sub) -> None:
    p = sub.add_parser("tables", help="write results/tables (Markdown, LaTeX, CSV) and results/figures from the runs",
                       description="Read a grid's runs with mlflow.search_runs, aggregate seeds, recompute paired "
                                   "comparisons from the stored predictions, and write tables/*.md|.tex|.csv and "
                                   "figures/*.png|.pdf under --out. Grad-CAM maps are made from a run's stored model "
                                   "and ECGs the first time (on the CPU) and logged to that run. The same runs give "
                                   "byte-identical files; cells with no finished run read 'missing'.")
    p.add_argument("--experiment", default=None,
                   help="MLflow experiment (default: repbench-<grid> for --grid, else repbench-smoke)")
    p.add_argument("--grid", default=None,
                   help="grid name or TOML path: its cells are the expected ones (default: every task x pair x seed "
                        "seen in the runs)")
    add_store_options(p)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the results folder)")
    p.add_argument("--n-boot", type=at_least_one, default=200, help="paired bootstrap resamples (default 200)")
    p.add_argument("--boot-seed", type=int, default=0, help="seed of the paired resamples (default 0)")
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.set_defaults(func=main)


def main(args) -> int:
    from bench.report import build_report

    store = resolve_paths(args)
    experiment = args.experiment
    if experiment is None:
        if args.grid:
            from bench.harness.grid import load_grid

            experiment = load_grid(args.grid).experiment
        else:
            experiment = "repbench-smoke"
    out = args.out or store.results
    files = build_report(store.tracking_uri, experiment, out, grid=args.grid, figures=not args.no_figures,
                         n_boot=args.n_boot, seed=args.boot_seed)  # a ReportError is one line from bench.cli
    for f in files:
        print(f)
    print(f"\n{len(files)} files under {Path(out).resolve()} (what each file shows: results/README.md)")
    return 0
