"""Options shared by several commands."""
from __future__ import annotations

from pathlib import Path


def add_store_options(p) -> None:
    p.add_argument("--results", type=Path, default=None,
                   help="results folder (default: ./results or $BENCH_RESULTS); holds mlflow.db, mlruns/, cache/")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: sqlite:///<results>/mlflow.db; use http://HOST:PORT for a "
                        "shared `mlflow server`)")


def resolve_store(args) -> tuple[Path, str]:
    from bench.harness.driver import default_results_dir
    from bench.harness.tracking import default_tracking_uri

    from bench.base.errors import TrackingError
    from bench.harness.tracking import check_tracking_uri

    results = args.results or default_results_dir()
    try:
        return results, check_tracking_uri(args.tracking_uri or default_tracking_uri(results))
    except TrackingError as e:  # one line, before any work
        raise SystemExit(f"error: {e}") from None
