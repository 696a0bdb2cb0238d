"""scripts/gpu_check.sh end to end, as its CPU dry run (the GPU run is the same script at full sizes)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_dry_run_reports_every_cell_without_gpu_figures(tmp_path):
    env = {**os.environ, "BENCH_PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--device", "cpu", "--results",
                           str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = proc.stdout[proc.stdout.rindex("train ECG/s"):]  # the per-cell table printed last
    rows = [line.split() for line in report.splitlines() if "FINISHED" in line.split()]
    cells = [r[0] for r in rows]
    assert len(cells) == 3 and sum("resnet2d-18-x0.25" in c for c in cells) == 1, proc.stdout
    for r in rows:
        assert float(r[2]) > 0 and float(r[3]) > 0  # train ECG/s and train s, measured
        assert r[4:8] == ["n/a", "(cpu)", "n/a", "(cpu)"]  # GPU columns are never filled on a CPU run
        assert float(r[8]) > 0  # overhead_s logged per run
    assert "gpu_check: device cpu" in proc.stdout


def test_unknown_device_is_refused_before_any_work(tmp_path):
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--device", "tpu", "--results",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--device must be cuda or cpu, not tpu" in proc.stderr
    assert not any(tmp_path.iterdir())
