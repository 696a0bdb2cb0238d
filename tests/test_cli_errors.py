"""Every error a user can cause is one line on stderr (`bench: error: ...`), exit 2 for usage and configuration
errors, no traceback (unless --debug), and a refused grid leaves no MLflow store, experiment or run behind."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.base.errors import GridError
from bench.cli import main as cli_main
from tests.test_grid_validation import GRID, INVALID, edited

REPO = Path(__file__).resolve().parents[1]


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bench: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("what,edit,message", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_grid_stops_before_any_run(tmp_path, monkeypatch, capsys, what, edit, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(edited(edit))
    results = tmp_path / "results"
    assert cli_main(["run", "--grid", "mine.toml", "--results", str(results), "--quiet"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("bench: error: grid mine.toml: ") and message in line
    assert not results.exists()  # no store, so no experiment and no run; no cache either


def test_list_refuses_before_creating_the_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(edited(("epochs = 1", "epochs = -1")))
    assert cli_main(["list", "--grid", "mine.toml", "--results", str(tmp_path / "results")]) == 2
    assert "train.epochs = -1: must be >= 1" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("argv,message", [
    (["run", "--grid", "smoke", "--max-cells", "0"], "argument --max-cells: 0 must be >= 1"),
    (["run", "--grid", "smoke", "--max-cells", "many"], "argument --max-cells: 'many' is not an integer"),
    (["run", "--grid", "smoke", "--max-retries", "1"], "--ray-address, --workers and --max-retries go with "
                                                        "--executor ray"),
    (["run", "--grid", "smok"], "unknown grid 'smok'"),
    (["run", "--grid", "missing.toml"], "grid file missing.toml does not exist"),
    (["run"], "the following arguments are required: --grid"),
    (["nonsense"], "invalid choice: 'nonsense'"),
    (["tables", "--results", "nowhere"], "no MLflow store at sqlite:///"),
])
def test_usage_errors_are_one_line_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    try:
        status = cli_main(argv)
    except SystemExit as e:  # argparse's own errors exit from inside parse_args
        status = e.code
    assert status == 2
    assert message in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "results").exists()


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(edited(("epochs = 1", "epochs = -1")))
    with pytest.raises(GridError, match="train.epochs = -1"):
        cli_main(["--debug", "run", "--grid", "mine.toml", "--results", str(tmp_path / "results")])


def _bench(args: list[str], tmp_path: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, **kw)


def test_invalid_grid_from_the_shell(tmp_path):
    (tmp_path / "mine.toml").write_text(GRID.replace('lr = 0.001', 'lr = "fast"'))
    out = _bench(["run", "--grid", "mine.toml"], tmp_path)
    assert out.returncode == 2
    assert one_error_line(out.stderr) == 'bench: error: grid mine.toml: train.lr = "fast": must be a number'
    assert not (tmp_path / "results").exists()
    debug = _bench(["--debug", "run", "--grid", "mine.toml"], tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "GridError" in debug.stderr


def test_closed_pipe_is_quiet(tmp_path):
    """`python -m bench list | head -0`: the reader is gone before the first line is written."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bench", "list"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # nothing reads stdout any more: the first write gets EPIPE
    err = proc.stderr.read().decode()
    status = proc.wait(timeout=300)
    assert err == "" and status in (0, 141), (status, err)
