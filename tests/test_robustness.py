"""Failure behaviour with real processes and files: a full disk (a real tiny tmpfs), kill -9 during a cohort read
and during a cell, two `run`s on one results folder, hostile paths in a folder source, credentials in a tracking
URI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bench.base.cohort import load_cohort
from bench.base.errors import CohortError, DiskFullError, TrackingError
from bench.base.storage import locked, reserved_memmap
from bench.data.simulator.files import write_cohort
from bench.harness.tracking import check_tracking_uri, client_for, default_tracking_uri

from _grids import grid_toml  # noqa: E402 - tests/ is on sys.path under pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}



def robust_grid(source: str, seeds=(0,), epochs: int = 1) -> str:
    return grid_toml("robust", source, seeds=seeds, epochs=epochs, eval={"clinical": False}, tasks=["lvef"],
                     representations=["raw"], models=["cnn1d"])


@pytest.fixture(scope="module")
def sim_folder(tmp_path_factory):
    """A simulated cohort written as real WFDB/XML files (~250 ECGs: several reader chunks)."""
    out = tmp_path_factory.mktemp("sim")
    write_cohort(out, 100, seed=4, workers=1)
    return out


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 1 MB filesystem (tmpfs), so a cache that does not fit hits ENOSPC exactly as on a full disk."""
    d = tmp_path / "tiny"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def _session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes of session `sid`: a child started with start_new_session and all it forked."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(d.name))
    return out


@pytest.fixture
def sessions():
    """Session ids of started children; whatever of them is still alive at teardown (a failed test) is killed."""
    sids: list[int] = []
    yield sids
    for sid in sids:
        for pid in _session_pids(sid):
            os.kill(pid, signal.SIGKILL)


def _wait_until(cond, timeout: float, what: str, proc=None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"process ended before {what}: {proc.stdout.read().decode()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _runs(results: Path):
    client = client_for(default_tracking_uri(results))
    exp = client.get_experiment_by_name("repbench-robust")
    return [] if exp is None else client.search_runs([exp.experiment_id], max_results=1000)


def _poll_runs(results: Path):
    try:  # the child may be creating the tables or hold the write lock
        return _runs(results) if (results / "mlflow.db").exists() else []
    except Exception:  # noqa: BLE001 - polling: try again in a moment
        return []


def _run_cmd(grid: Path, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench", "run", "--grid", str(grid), "--results", str(results), "--quiet", *extra]


# -- full disk ---------------------------------------------------------------------------------------------------
def test_reserved_memmap_on_a_full_disk_raises_naming_path_and_size(tiny_disk):
    small = reserved_memmap(tiny_disk / "fits.npy", np.float32, (100, 1000))  # 0.4 MB: fits, blocks allocated
    small[:] = 1.0  # every page is backed: no SIGBUS
    del small
    with pytest.raises(DiskFullError, match=r"big\.npy: not enough disk space: .*MB needed, .*MB free"):
        reserved_memmap(tiny_disk / "big.npy", np.float32, (10, 12, 5000))  # 2.3 MB
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["fits.npy"]


def test_representation_cache_on_a_full_disk_fails_cleanly(tiny_disk):
    from bench.harness import cache
    from representations.raw import Raw

    rng = np.random.default_rng(0)
    cohort = SimpleNamespace(signals=rng.normal(0, 0.3, (30, 12, 5000)).astype(np.float32), fingerprint="fp-full")
    with pytest.raises(DiskFullError, match="features.npy: not enough disk space"):
        cache.build_features(Raw(), cohort, np.arange(20), cache_dir=tiny_disk)
    assert not list((tiny_disk / cache.SUBDIR).glob(".tmp-*"))  # the partial entry is gone


def test_run_with_the_cache_on_a_full_disk_fails_the_cell_with_a_message(sim_folder, tiny_disk, tmp_path):
    results = tmp_path / "results"
    grid = tmp_path / "grid.toml"
    grid.write_text(robust_grid(f"folder:{sim_folder}"))
    r = subprocess.run(_run_cmd(grid, results, "--cache", str(tiny_disk)), env=ENV, cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr  # FAILED cell, not SIGBUS (135)
    assert "DiskFullError" in r.stdout and "not enough disk space" in r.stdout and str(tiny_disk) in r.stdout
    runs = _runs(results)
    assert [x.info.status for x in runs] == ["FAILED"]
    assert "not enough disk space" in runs[0].data.tags["status_reason"]
    assert not [p for p in (tiny_disk / "signals").iterdir() if "tmp" in p.name]


# -- kill -9 -----------------------------------------------------------------------------------------------------
def test_kill_9_during_a_cohort_read_leaves_no_reader_and_its_temp_files_are_cleaned(sim_folder, tmp_path,
                                                                                      sessions):
    cache_dir = tmp_path / "cache"
    env = {**ENV, "BENCH_CACHE": str(cache_dir), "BENCH_READ_WORKERS": "2"}
    cmd = [sys.executable, "-m", "bench", "data", "check", f"folder:{sim_folder}"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    sessions.append(proc.pid)
    _wait_until(lambda: len(_session_pids(proc.pid)) >= 3, 180, "the reader workers to start", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _wait_until(lambda: not _session_pids(proc.pid), 5, "the reader workers to exit")
    signals_dir = cache_dir / "signals"
    assert [p for p in signals_dir.iterdir() if "tmp" in p.name]  # the interrupted build's partial matrix

    again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not [p for p in signals_dir.iterdir() if "tmp" in p.name]  # cleaned by the next build
    assert len(list(signals_dir.glob("*.npy"))) == 2  # the matrix and its ok-mask

    cleared = subprocess.run([sys.executable, "-m", "bench", "cache", "clear", "--dir", str(cache_dir)], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert cleared.returncode == 0 and "signals/" in cleared.stdout, cleared.stdout + cleared.stderr
    assert not [p for p in signals_dir.iterdir() if not p.name.endswith(".lock")]


def test_cache_clear_removes_a_dead_builds_temp_files_but_not_a_live_ones(tmp_path):
    from bench.harness import cache

    sig = tmp_path / "signals"
    sig.mkdir()
    (sig / "deadkey.4242.tmp.npy").write_bytes(b"x" * 100)
    (sig / "livekey.4343.tmp.npy").write_bytes(b"y" * 100)
    with locked(sig / ".livekey.lock"):  # a build in progress holds its key's lock
        removed, freed = cache.clear(tmp_path)
        assert "signals/deadkey.4242.tmp.npy" in removed and freed >= 100
        assert (sig / "livekey.4343.tmp.npy").exists()
    removed, _ = cache.clear(tmp_path)
    assert "signals/livekey.4343.tmp.npy" in removed


# -- two runs on one results folder, and kill -9 of a run mid-cell -----------------------------------------------
@pytest.mark.slow
def test_two_concurrent_runs_never_train_a_cell_twice_and_a_killed_run_is_closed(tmp_path, sessions):
    results, cache_dir = tmp_path / "results", tmp_path / "cache"
    grid = tmp_path / "grid.toml"
    # enough cells (of a few seconds each) that the first run is still mid-grid after the second one has come and
    # gone, on a fast machine: the grid's preparation leaves each cell little besides training
    grid.write_text(robust_grid("synthetic:40,seed=1", seeds=range(8), epochs=4))
    env = {**ENV, "BENCH_CACHE": str(cache_dir)}
    first = subprocess.Popen(_run_cmd(grid, results), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
    sessions.append(first.pid)
    _wait_until(lambda: any(r.info.status == "RUNNING" for r in _poll_runs(results)), 300,
                "the first run to start a cell", first)
    second = subprocess.run(_run_cmd(grid, results), env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"leased by pid {first.pid} on" in second.stdout  # reported, not run
    assert first.poll() is None, "the first run ended before the second one could meet it"
    assert all(r.info.status != "KILLED" for r in _runs(results))  # the live run was left alone

    _wait_until(lambda: any(r.info.status == "RUNNING" for r in _poll_runs(results)), 120, "a cell", first)
    first.send_signal(signal.SIGKILL)  # mid-cell: its run stays RUNNING in the store
    first.wait()
    _wait_until(lambda: not _session_pids(first.pid), 5, "the killed run's processes to exit")
    assert any(r.info.status == "RUNNING" for r in _runs(results))

    third = subprocess.run(_run_cmd(grid, results), env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=900)
    assert third.returncode == 0, third.stdout + third.stderr
    runs = _runs(results)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    finished = [r.data.tags["cell_key"] for r in runs if r.info.status == "FINISHED"]
    assert len(finished) == 8 and len(set(finished)) == 8  # every cell once, none twice
    killed = [r for r in runs if r.info.status == "KILLED"]
    assert killed and all("process died" in r.data.tags["status_reason"] for r in killed)


# -- hostile paths -----------------------------------------------------------------------------------------------
def _folder_with(sim_folder: Path, tmp_path: Path, n: int = 8) -> tuple[Path, pd.DataFrame]:
    """A copy of n simulated ECGs (symlinks to their files) with its labels.csv, to be edited by a test."""
    lab = pd.read_csv(sim_folder / "labels.csv", dtype=str, keep_default_na=False).head(n)
    folder = tmp_path / "mine"
    (folder / "ecgs").mkdir(parents=True)
    for f in lab["file"]:
        for p in (sim_folder / f).parent.glob(Path(f).stem + ".*"):
            (folder / "ecgs" / p.name).write_bytes(p.read_bytes())
    return folder, lab


def test_folder_source_quarantines_paths_outside_dangling_links_and_escaping_wfdb_files(sim_folder, tmp_path):
    folder, lab = _folder_with(sim_folder, tmp_path)
    secret = tmp_path / "secret.xml"
    secret.write_text("<?xml version='1.0'?><secret/>")
    hea = next(f for f in lab["file"] if f.endswith(".hea"))
    header = folder / hea
    header.write_text(header.read_text().replace(Path(hea).stem + ".dat", "../../outside.dat"))
    (folder / "ecgs" / "gone.xml").symlink_to(tmp_path / "does-not-exist.xml")
    extra = lab.iloc[[0, 0, 0]].assign(file=["../secret.xml", str(secret), "ecgs/gone.xml"],
                                       ecg_id=["up", "abs", "gone"])
    pd.concat([lab, extra]).to_csv(folder / "labels.csv", index=False)

    c = load_cohort(f"folder:{folder}", cache_dir=tmp_path / "cache")
    reasons = dict(zip(c.quarantine["file"], c.quarantine["reason"]))
    assert reasons["../secret.xml"].startswith("outside the folder")
    assert reasons[str(secret)].startswith("outside the folder")
    assert reasons["ecgs/gone.xml"].startswith("dangling symlink")
    assert "not beside its header" in reasons[hea]
    assert len(c) == len(lab) - 1 and c.n_in == len(lab) + 3

    allowed = load_cohort(f"folder:{folder},allow_outside=1", cache_dir=tmp_path / "cache")
    reasons = dict(zip(allowed.quarantine["file"], allowed.quarantine["reason"]))
    assert "unrecognised ECG format" in reasons["../secret.xml"]  # read (and refused by the reader) this time


def test_run_and_list_survive_a_dangling_symlink_and_log_no_credentials(sim_folder, tmp_path):
    """One real run serves two checks: an unlisted dangling symlink is listed, not a crash; and tracking credentials
    given the documented way (environment) appear in no param or tag."""
    folder, lab = _folder_with(sim_folder, tmp_path, n=40)
    (folder / "ecgs" / "zz_gone.xml").symlink_to(tmp_path / "nowhere.xml")
    lab.to_csv(folder / "labels.csv", index=False)
    grid = tmp_path / "grid.toml"
    grid.write_text(robust_grid(f"folder:{folder}"))
    results = tmp_path / "results"
    secret = "pw-7f3a9c-never-logged"
    env = {**ENV, "BENCH_CACHE": str(tmp_path / "cache"), "MLFLOW_TRACKING_USERNAME": "alice",
           "MLFLOW_TRACKING_PASSWORD": secret}
    listed = subprocess.run([sys.executable, "-m", "bench", "list", "--grid", str(grid), "--results", str(results)],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "pending" in listed.stdout, listed.stdout + listed.stderr
    r = subprocess.run(_run_cmd(grid, results), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 ECG file(s) in the folder are not in labels.csv" in r.stderr and "zz_gone.xml" in r.stderr
    (run,) = _runs(results)
    assert run.info.status == "FINISHED"
    q = pd.read_csv(client_for(default_tracking_uri(results)).download_artifacts(run.info.run_id, "quarantine.csv",
                                                                                 str(tmp_path)))
    assert q.loc[q["file"] == "ecgs/zz_gone.xml", "reason"].str.startswith("unlisted").all()
    logged = " ".join(f"{k}={v}" for d in (run.data.params, run.data.tags) for k, v in d.items())
    assert "pw-7f3a9c" not in logged and "MLFLOW_TRACKING" not in logged
    assert "folder:" in logged  # the dump searched above is the real one


def test_unlisted_files_are_listed_and_a_repeated_ecg_id_is_refused(sim_folder, tmp_path):
    folder, lab = _folder_with(sim_folder, tmp_path)
    lab.iloc[:-1].to_csv(folder / "labels.csv", index=False)  # the last ECG's file is not listed
    with pytest.warns(UserWarning, match="1 ECG file"):
        c = load_cohort(f"folder:{folder}", cache_dir=tmp_path / "cache")
    missing = lab["file"].iloc[-1]
    assert list(c.quarantine["file"]) == [missing] and len(c) == len(lab) - 1
    lab.assign(ecg_id=["same"] * len(lab)).to_csv(folder / "labels.csv", index=False)
    with pytest.raises(CohortError, match=r"column 'ecg_id' repeats an ecg_id \(CSV lines 2, 3"):
        load_cohort(f"folder:{folder}", cache_dir=tmp_path / "cache")


# -- tracking server credentials ---------------------------------------------------------------------------------
def test_credentials_in_the_tracking_uri_are_refused_without_echoing_them(tmp_path):
    with pytest.raises(TrackingError, match="MLFLOW_TRACKING_USERNAME") as e:
        check_tracking_uri("http://alice:s3cret-pw@10.0.0.5:5000")
    assert "s3cret-pw" not in str(e.value) and "http://10.0.0.5:5000" in str(e.value)
    assert check_tracking_uri("http://10.0.0.5:5000") == "http://10.0.0.5:5000"
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--grid", "smoke", "--results", str(tmp_path / "r"),
                        "--tracking-uri", "http://alice:s3cret-pw@10.0.0.5:5000"], env=ENV, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "s3cret-pw" not in r.stdout + r.stderr  # a configuration error
    assert (r.stdout + r.stderr).strip().splitlines() == [
        "bench: error: tracking URI http://10.0.0.5:5000: credentials in the URI are refused; use --tracking-uri "
        "http://10.0.0.5:5000 and put them in the environment (MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)"]
    assert not (tmp_path / "r" / "mlflow.db").exists()  # refused before any work


@pytest.fixture
def auth_server(tmp_path):
    """The documented safe server: `mlflow server --app-name basic-auth` bound to 127.0.0.1, admin password and
    secret key from the environment. Needs the `mlflow[auth]` extra (Flask-WTF) where the server runs."""
    import importlib.util
    import socket
    import urllib.request

    if importlib.util.find_spec("flask_wtf") is None:
        pytest.skip("mlflow's basic-auth app needs Flask-WTF (pip install 'mlflow[auth]')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "server"
    root.mkdir()
    env = {**os.environ, "MLFLOW_AUTH_ADMIN_PASSWORD": "admin-pw-6d1e", "MLFLOW_FLASK_SERVER_SECRET_KEY": "k" * 32}
    log = open(root / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", "--host",
                             "127.0.0.1", "--port", str(port), "--workers", "1", "--backend-store-uri",
                             f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "art")],
                            env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _answers(urllib.request, f"{uri}/health"), 120, "the tracking server to answer")
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # its web workers can take long to drain; nothing of theirs is kept
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _answers(urllib_request, url: str) -> bool:
    try:
        with urllib_request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_the_documented_tracking_server_refuses_anonymous_clients_and_takes_env_credentials(auth_server, sim_folder,
                                                                                           tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as e:  # anonymous: no reading runs
        urllib.request.urlopen(f"{auth_server}/api/2.0/mlflow/experiments/search?max_results=10", timeout=10)
    assert e.value.code == 401
    grid = tmp_path / "grid.toml"
    grid.write_text(robust_grid(f"folder:{sim_folder}"))
    cmd = _run_cmd(grid, tmp_path / "results", "--tracking-uri", auth_server)
    env = {**ENV, "BENCH_CACHE": str(tmp_path / "cache")}
    anonymous = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert anonymous.returncode != 0 and "401" in anonymous.stdout + anonymous.stderr
    creds = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "admin-pw-6d1e"}
    r = subprocess.run(cmd, env={**env, **creds}, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for k, v in creds.items():
        monkeypatch.setenv(k, v)
    client = client_for(auth_server)
    (run,) = client.search_runs([client.get_experiment_by_name("repbench-robust").experiment_id])
    assert run.info.status == "FINISHED"
    logged = " ".join(f"{k}={v}" for d in (run.data.params, run.data.tags) for k, v in d.items())
    assert "admin-pw-6d1e" not in logged
