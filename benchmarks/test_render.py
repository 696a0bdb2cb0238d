"""Fast batched renderer vs the matplotlib reference (reused figure), same ECGs, same output size, one run.

Run: pytest benchmarks/test_render.py --benchmark-enable [--benchmark-json out.json]
Size: BENCH_RENDER_WIDTH (default 512 px wide); threads of the fast renderer: BENCH_RENDER_THREADS (default: as the
grid runs it, `default_threads()`, all usable CPUs; the reference is single-threaded matplotlib).
Each benchmark times one batch of RENDER_ECGS pages; `extra_info` gives `ecgs`, `width`, `height`, and for the
fast renderer `threads` and the trace-pixel IoU against the reference, plain (`iou_plain`, the goal: >= 0.8) and
with a 1 px tolerance (`iou_tol1`, see `_layout.tolerant_iou`).
`test_render_speedup` then checks the goal: fast >= 50x the reference per ECG.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from bench.data.simulator import simulate
from representations import _layout as L
from representations._render_fast import render_fast
from representations._render_reference import ReferenceRenderer
from bench.base.threads import default_threads
from representations.image import PaperImage

WIDTH = int(os.environ.get("BENCH_RENDER_WIDTH", "512"))
RENDER_ECGS = 16
THREADS = int(os.environ.get("BENCH_RENDER_THREADS", "0")) or default_threads()
SPEEDUP_GOAL = 50.0
_MEDIAN_S: dict[str, float] = {}


@pytest.fixture(scope="module")
def pages():
    _, sig, _ = simulate(10, seed=21)
    x = PaperImage().preprocess(sig[:RENDER_ECGS])
    width, height = L.output_size(WIDTH)
    style = dict(line_px=L.line_width_px(0.3, width), grid=True, mode="colour")
    return x, width, height, style


def _record(benchmark, name, width, height):
    benchmark.extra_info.update(ecgs=RENDER_ECGS, width=width, height=height)
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is not None and stats.median > 0:
        _MEDIAN_S[name] = stats.median / RENDER_ECGS
        benchmark.extra_info["ms_per_ecg"] = 1000 * _MEDIAN_S[name]


def test_render_fast(benchmark, pages):
    x, width, height, style = pages
    render_fast(x[:1], width, height, **style)  # page template, geometry and the kernel are built once
    out = benchmark(render_fast, x, width, height, threads=THREADS, **style)
    benchmark.extra_info["threads"] = THREADS
    ref = ReferenceRenderer(width, height, **style).render(x[:4])
    fast_mask, ref_mask = L.trace_mask(out[:4], width, height), L.trace_mask(ref, width, height)
    benchmark.extra_info["iou_tol1"] = L.tolerant_iou(fast_mask, ref_mask, 1)
    benchmark.extra_info["iou_plain"] = L.tolerant_iou(fast_mask, ref_mask, 0)
    _record(benchmark, "fast", width, height)
    assert out.shape == (RENDER_ECGS, 3, height, width)
    assert benchmark.extra_info["iou_plain"] >= 0.8


def test_render_reference(benchmark, pages):
    x, width, height, style = pages
    renderer = ReferenceRenderer(width, height, **style)
    renderer.render(x[:1])
    out = benchmark.pedantic(renderer.render, args=(x,), rounds=5, iterations=1, warmup_rounds=0)
    _record(benchmark, "reference", width, height)
    if "fast" in _MEDIAN_S and "reference" in _MEDIAN_S:
        benchmark.extra_info["speedup_of_fast"] = _MEDIAN_S["reference"] / _MEDIAN_S["fast"]
    assert out.shape == (RENDER_ECGS, 3, height, width)


def test_render_speedup():
    if "fast" not in _MEDIAN_S or "reference" not in _MEDIAN_S:
        pytest.skip("needs both renderer benchmarks timed in this run (--benchmark-enable)")
    ratio = _MEDIAN_S["reference"] / _MEDIAN_S["fast"]
    print(f"\nrender {WIDTH} px: fast ({THREADS} threads) {1000 * _MEDIAN_S['fast']:.3f} ms/ECG, reference "
          f"{1000 * _MEDIAN_S['reference']:.1f} ms/ECG, speedup {ratio:.1f}x")
    assert ratio >= SPEEDUP_GOAL
