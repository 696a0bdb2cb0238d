"""`python -m bench run --grid NAME|PATH`: run every cell of a grid, skipping finished ones."""
from __future__ import annotations

from pathlib import Path

from bench.commands._common import add_store_options, at_least_one, resolve_paths


def register(sub) -> None:
    p = sub.add_parser("run", help="run a grid (resumes: finished cells are skipped)",
                       description="Run every task x representation x model x seed cell of a grid into MLflow. "
                                   "Cells whose key already has a FINISHED run are skipped (use --rerun to force).")
    p.add_argument("--grid", required=True, help="built-in grid name (smoke, small, full) or a TOML file path")
    add_store_options(p)
    p.add_argument("--source", default=None, help="override the grid's data source, e.g. ptbxl:/data/ptb-xl")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto = CUDA when present (with AMP), else CPU")
    p.add_argument("--rerun", action="store_true", help="run cells again even if they have a FINISHED run")
    p.add_argument("--max-cells", type=at_least_one, default=None, metavar="N",
                   help="run at most N (>= 1) of the pending cells")
    p.add_argument("--cache", type=Path, default=None,
                   help="cohort and representation cache (default: $BENCH_CACHE, else <results>/cache)")
    p.add_argument("--executor", default="local", help="where cells run: local (default) or ray")
    p.add_argument("--ray-address", default=None, help="Ray cluster address for --executor ray (auto|HOST:PORT)")
    p.add_argument("--workers", type=int, default=None,
                   help="--executor ray: at most N cells in flight (default: as many as the cluster's CPUs/GPUs "
                        "allow)")
    p.add_argument("--max-retries", type=int, default=0,
                   help="--executor ray: times Ray retries a cell whose worker died (default 0); then it is FAILED")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=main)


def main(args) -> int:
    from bench.base.errors import UsageError
    from bench.harness.driver import run_grid
    from bench.harness.grid import load_grid

    opts = {}
    if args.executor == "ray":
        opts = {"address": args.ray_address, "workers": args.workers, "max_retries": args.max_retries}
    elif args.ray_address or args.workers or args.max_retries:
        raise UsageError("--ray-address, --workers and --max-retries go with --executor ray")
    paths = resolve_paths(args)
    grid = load_grid(args.grid, source=args.source)  # checked whole: nothing has run and no MLflow store exists yet
    return run_grid(grid, tracking_uri=paths.tracking_uri, results_dir=paths.results, cache_dir=paths.cache,
                    device=args.device, rerun=args.rerun, max_cells=args.max_cells, executor=args.executor,
                    executor_options=opts, progress=not args.quiet)
