"""Simulator throughput (goal: >= 200 ECG/s including writing files, on 2 cores), against references in the same run.

Group `simulate_32`: 32 ECGs rendered and written as WFDB / MUSE files.
- `bench`: the simulator as used (ECGs vectorised in one batch: beats placed by FFT convolution);
- `reference_unbatched`: the same model and writers, one ECG at a time (the obvious per-ECG loop);
- `reference_neurokit`: neurokit2's `ecg_simulate(method="multileads")`, 32 ECGs, no files (skipped if absent).
Group `cohort`: `write_cohort` of 500 patients (~950 ECGs) with 2 worker processes; ECG/s in extra_info.
Run with `make bench` (or `pytest benchmarks/test_simulator_speed.py --benchmark-enable`).
"""
from __future__ import annotations

import importlib.util
import os
import warnings

import pytest

from bench.data.simulator.files import _write_batch, write_cohort
from bench.data.simulator.generate import plan_cohort

N_ECG = 32


@pytest.fixture(scope="module")
def plan():
    p, _ = plan_cohort(40, seed=0)
    return p.iloc[:N_ECG]


@pytest.mark.benchmark(group="simulate_32")
def test_bench_batched(benchmark, plan, tmp_path):
    (tmp_path / "ecgs").mkdir()
    benchmark.extra_info["ecgs"] = N_ECG
    benchmark(_write_batch, (plan, 0, 0, None, tmp_path))


@pytest.mark.benchmark(group="simulate_32")
def test_reference_unbatched(benchmark, plan, tmp_path):
    (tmp_path / "ecgs").mkdir()

    def one_at_a_time():
        for i in range(len(plan)):
            _write_batch((plan.iloc[i:i + 1], i, 0, None, tmp_path))

    benchmark.pedantic(one_at_a_time, rounds=3, iterations=1)


@pytest.mark.benchmark(group="simulate_32")
@pytest.mark.skipif(importlib.util.find_spec("neurokit2") is None, reason="neurokit2 not installed")
def test_reference_neurokit(benchmark):
    import neurokit2 as nk

    def simulate_many():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for s in range(N_ECG):
                nk.ecg_simulate(duration=10, sampling_rate=500, method="multileads", random_state=s)

    benchmark.pedantic(simulate_many, rounds=1, iterations=1)


@pytest.mark.benchmark(group="cohort")
def test_write_cohort_throughput(benchmark, tmp_path):
    counter = {"n": 0, "k": 0}

    def run():
        counter["k"] += 1
        labels = write_cohort(tmp_path / f"c{counter['k']}", 500, seed=1, workers=min(2, os.cpu_count() or 1))
        counter["n"] = len(labels)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["ecgs"] = counter["n"]
    benchmark.extra_info["ecg_per_s"] = counter["n"] / benchmark.stats.stats.mean
