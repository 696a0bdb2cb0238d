"""Options shared by several commands."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_store_options(p) -> None:
    p.add_argument("--results", type=Path, default=None,
                   help="results folder (default: $BENCH_RESULTS, else ./results); holds mlflow.db, mlruns/, cache/")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: sqlite:///<results>/mlflow.db; use http://HOST:PORT for a "
                        "shared `mlflow server`)")


def resolve_paths(args):
    """The results folder, tracking URI and cache for these flags (bench.harness.paths decides)."""
    from bench.harness import paths

    from bench.harness.tracking import check_tracking_uri

    resolved = paths.resolve(args.results, args.tracking_uri, getattr(args, "cache", None))
    check_tracking_uri(resolved.tracking_uri)  # credentials in the URI: a one-line TrackingError before any work
    return resolved


def at_least_one(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1 (a run of no cell does nothing)")
    return value
