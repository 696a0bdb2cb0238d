"""One place decides paths (bench.harness.paths): with only $BENCH_RESULTS set, the MLflow store, the cohort cache and
the representation cache all land under it, and nothing under the working folder."""
from __future__ import annotations

import numpy as np
import pytest

from bench.harness import paths


@pytest.fixture
def only_results(tmp_path, monkeypatch):
    """$BENCH_RESULTS set, $BENCH_CACHE not, and a working folder that must stay empty."""
    work, results = tmp_path / "work", tmp_path / "elsewhere" / "results"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("BENCH_RESULTS", str(results))
    monkeypatch.delenv("BENCH_CACHE", raising=False)
    return work, results


def test_precedence_flags_then_environment_then_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_RESULTS", raising=False)
    monkeypatch.delenv("BENCH_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    p = paths.resolve()
    assert p.results.resolve() == tmp_path / "results" and p.cache.resolve() == tmp_path / "results" / "cache"
    assert p.tracking_uri == f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path / "env-results"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "env-cache"))
    p = paths.resolve()
    assert p.results == tmp_path / "env-results" and p.cache == tmp_path / "env-cache"
    p = paths.resolve(tmp_path / "flag-results", "http://127.0.0.1:5000", tmp_path / "flag-cache")
    assert (p.results, p.tracking_uri, p.cache) == (tmp_path / "flag-results", "http://127.0.0.1:5000",
                                                   tmp_path / "flag-cache")


def test_every_consumer_agrees_with_only_bench_results(only_results):
    from bench.data.sources.common import cache_root as cohort_cache_root
    from bench.harness.cache import cache_root as representation_cache_root
    from bench.harness.tracking import default_tracking_uri

    work, results = only_results
    p = paths.resolve()
    assert p.results == results and p.cache == results / "cache"
    assert cohort_cache_root() == representation_cache_root() == results / "cache"
    assert default_tracking_uri(paths.results_dir()) == f"sqlite:///{results / 'mlflow.db'}" == p.tracking_uri


def test_cohort_and_representation_caches_land_under_bench_results(only_results):
    """A real cohort build and a real representation build, no cache folder passed: both under $BENCH_RESULTS."""
    from bench.base.cohort import load_cohort
    from bench.harness.cache import build_features
    from representations import REPRESENTATIONS

    work, results = only_results
    cohort = load_cohort("synthetic:12,seed=3")
    rep = REPRESENTATIONS.get("raw")()
    feats = build_features(rep, cohort, np.arange(len(cohort) // 2))
    assert feats.shape[0] == len(cohort)
    cache = results / "cache"
    assert {d.name for d in cache.iterdir() if not d.name.startswith(".")} >= {"synthetic", "signals",
                                                                               "representations"}
    assert any((cache / "representations").iterdir())
    assert list(work.iterdir()) == []  # nothing under the working folder's results/
