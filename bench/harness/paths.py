"""Where results, the MLflow store and the caches live: decided here and nowhere else.

From the CLI flags, then the environment, then the defaults:
- results folder: `--results`, else `$BENCH_RESULTS`, else `./results`;
- MLflow tracking URI: `--tracking-uri`, else SQLite at `<results>/mlflow.db` (artifacts in `<results>/mlruns`);
- cache (cohorts: `signals/`, `synthetic/`; representations: `features/`): `--cache`, else `$BENCH_CACHE`,
  else `<results>/cache`.
So `BENCH_RESULTS=/scratch/r` alone puts the store and both caches under /scratch/r.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

RESULTS_ENV = "BENCH_RESULTS"
CACHE_ENV = "BENCH_CACHE"


@dataclass(frozen=True)
class BenchPaths:
    results: Path
    tracking_uri: str
    cache: Path


def results_dir(results: str | os.PathLike | None = None) -> Path:
    return Path(results or os.environ.get(RESULTS_ENV) or "results")


def tracking_uri_for(results: str | os.PathLike) -> str:
    """The default store: SQLite inside the results folder (absolute, so it does not depend on the working folder)."""
    return f"sqlite:///{Path(results).resolve() / 'mlflow.db'}"


def cache_dir(cache: str | os.PathLike | None = None, results: str | os.PathLike | None = None) -> Path:
    """The one cache folder for cohorts and representations."""
    return Path(cache or os.environ.get(CACHE_ENV) or results_dir(results) / "cache")


def resolve(results: str | os.PathLike | None = None, tracking_uri: str | None = None,
            cache: str | os.PathLike | None = None) -> BenchPaths:
    res = results_dir(results)
    return BenchPaths(res, tracking_uri or tracking_uri_for(res), cache_dir(cache, res))
