"""Representation throughput (ECGs per second, batched) and stored bytes per ECG; building every representation of
a 2,000-ECG cohort through the cache.

Run: pytest benchmarks/test_representations.py --benchmark-enable [--benchmark-json out.json]
`extra_info`: `ecgs` (batch size), `bytes_per_ecg` (as stored in the cache), `ecgs_per_s` (from the median).
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.base import clone

from bench.harness.cache import build_features, last_build_stats
from bench.data.simulator import simulate
from representations import REPRESENTATIONS

BATCH = 32
COHORT = 2000
CASES = [("raw", {}), ("image", {"width": 224}), ("image", {"width": 512}), ("image", {"width": 1024}),
         ("dwt_pca", {}), ("dwt_pca", {"n_components": 8})]


@pytest.fixture(scope="module")
def signals():
    _, sig, _ = simulate(60, seed=31)
    return np.ascontiguousarray(sig)


@pytest.mark.parametrize("name,params", CASES, ids=[f"{n}-{'-'.join(f'{k}{v}' for k, v in p.items())}"
                                                   for n, p in CASES])
def test_transform_throughput(benchmark, signals, name, params):
    rep = clone(REPRESENTATIONS.get(name)(**params)).fit(signals)
    batch = signals[:BATCH]
    out = rep.transform(batch[:2])  # warm-up (page template, filter design)
    benchmark.extra_info.update(ecgs=BATCH, bytes_per_ecg=int(out[0].nbytes), representation=name, **params)
    result = benchmark.pedantic(rep.transform, args=(batch,), rounds=5, iterations=1, warmup_rounds=1)
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is not None and stats.median > 0:
        benchmark.extra_info["ecgs_per_s"] = BATCH / stats.median
    assert result.shape == (BATCH, *rep.output_shape())


def test_build_cohort_2000(benchmark, signals, tmp_path):
    """Every representation (defaults) of a 2,000-ECG cohort built into an empty cache: goal under a minute.
    The cohort tiles the simulated ECGs with per-copy noise, so no two rows are equal."""
    rng = np.random.default_rng(0)
    reps = np.resize(np.arange(len(signals)), COHORT)
    sig = (signals[reps] + rng.normal(0, 0.01, (COHORT, 1, 5000)).astype(np.float32)).astype(np.float32)
    cohort = SimpleNamespace(signals=sig, fingerprint="bench-2000")
    train = np.arange(0, COHORT * 7 // 10)
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def build_all():
        for name in REPRESENTATIONS.names():
            t0, c0 = time.perf_counter(), time.process_time()
            build_features(REPRESENTATIONS.get(name)(), cohort, train, tmp_path / f"run{len(seconds)}")
            assert last_build_stats()["hit"] is False
            seconds[name], cpu[name] = time.perf_counter() - t0, time.process_time() - c0

    benchmark.pedantic(build_all, rounds=1, iterations=1)
    benchmark.extra_info.update(ecgs=COHORT, **{f"{k}_s": round(v, 2) for k, v in seconds.items()},
                                total_s=round(sum(seconds.values()), 2), cpu_s=round(sum(cpu.values()), 2))
    print(f"\nbuild {COHORT} ECGs: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
          + f", total {sum(seconds.values()):.1f} s wall, {sum(cpu.values()):.1f} s CPU")
    assert sum(seconds.values()) < 60.0
