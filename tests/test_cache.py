"""Representation cache: hit/miss and keys, row alignment, training-split-only fitting, crash safety, two processes
filling the same entry at once, and the `cache info|clear` command."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bench.harness import cache
from bench.cli import main as cli
from bench.data.simulator import simulate
from representations.dwt_pca import DwtPca
from representations.image import PaperImage
from representations.raw import Raw

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cohort():
    _, sig, _ = simulate(8, seed=4)
    sig = np.ascontiguousarray(sig[:14])
    return SimpleNamespace(signals=sig, fingerprint="fp-test-cohort")


def test_miss_then_hit(tmp_path, cohort):
    train = np.arange(10)
    first = cache.build_features(Raw(), cohort, train, tmp_path)
    s1 = cache.last_build_stats()
    assert s1["hit"] is False and s1["shape"] == [14, 12, 5000] and s1["dtype"] == "float32"
    assert s1["repr_bytes_per_ecg"] == 12 * 5000 * 4 and s1["repr_ms_per_ecg"] > 0
    second = cache.build_features(Raw(), cohort, train, tmp_path)
    s2 = cache.last_build_stats()
    assert s2["hit"] is True and s2["key"] == s1["key"]
    assert isinstance(second, np.memmap) and not second.flags.writeable
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(second, Raw().transform(cohort.signals))  # row i = signals[i]


def test_keys(tmp_path, cohort):
    def key(rep, fp="fp-test-cohort", train=np.arange(10)):
        cache.build_features(rep, SimpleNamespace(signals=cohort.signals[:3], fingerprint=fp), train[train < 3],
                             tmp_path)
        return cache.last_build_stats()["key"]

    base = key(Raw())
    assert key(Raw()) == base
    assert key(Raw(normalise="ecg")) != base  # parameters
    assert key(Raw(), fp="other") != base  # cohort
    assert key(Raw(), train=np.arange(1, 3)) == base  # nothing fitted: the split does not matter
    img = key(PaperImage(width=64))
    assert key(PaperImage(width=64, height=64)) != img and key(PaperImage(width=80)) != img
    assert cache.cache_key(cache.cache_spec(DwtPca(), "fp", np.arange(5))) != \
        cache.cache_key(cache.cache_spec(DwtPca(), "fp", np.arange(1, 6)))  # fitted: the split matters
    assert cache.cache_key(cache.cache_spec(DwtPca(), "fp", np.array([3, 1, 2]))) == \
        cache.cache_key(cache.cache_spec(DwtPca(), "fp", np.array([1, 2, 3])))


def test_fitted_on_training_rows_only(tmp_path, cohort):
    """Test rows never reach fit: replacing them changes their features only, and the training rows' features equal
    those of a representation fitted on the training rows alone."""
    train, test = np.arange(0, 14, 2), np.arange(1, 14, 2)
    feats = np.array(cache.build_features(DwtPca(), cohort, train, tmp_path))
    alone = DwtPca().fit(cohort.signals[train])
    np.testing.assert_allclose(feats, alone.transform(cohort.signals), atol=1e-5)
    poisoned = cohort.signals.copy()
    poisoned[test] = 40 * poisoned[test][::-1]
    feats2 = np.array(cache.build_features(DwtPca(), SimpleNamespace(signals=poisoned, fingerprint="poisoned"),
                                           train, tmp_path))
    np.testing.assert_allclose(feats2[train], feats[train], atol=1e-5)
    assert not np.allclose(feats2[test], feats[test])


class _Crashing(Raw):
    def transform(self, X):
        if len(X) > 1:
            raise RuntimeError("disk full")
        return super().transform(X)


def test_crash_leaves_no_entry(tmp_path, cohort):
    with pytest.raises(RuntimeError, match="disk full"):
        cache.build_features(_Crashing(), cohort, np.arange(10), tmp_path)
    root = tmp_path / cache.SUBDIR
    assert not [p for p in root.iterdir() if p.is_dir()]  # neither an entry nor a temporary folder
    cache.build_features(Raw(), cohort, np.arange(10), tmp_path)
    assert cache.last_build_stats()["hit"] is False


_WORKER = """
import json, pathlib, sys, time
from types import SimpleNamespace
import numpy as np
from bench.harness.cache import build_features, last_build_stats
from representations.image import PaperImage
sig = np.load(sys.argv[1], mmap_mode="r")
ready = pathlib.Path(sys.argv[3])
(ready / sys.argv[4]).touch()
while len(list(ready.iterdir())) < 2:  # start together once both interpreters are up
    time.sleep(0.002)
f = build_features(PaperImage(width=512), SimpleNamespace(signals=sig, fingerprint="fp-concurrent"),
                   np.arange(len(sig)), sys.argv[2])
s = last_build_stats()
print(json.dumps({"hit": s["hit"], "key": s["key"], "sum": int(np.asarray(f, dtype=np.int64).sum())}))
"""


def test_two_processes_fill_one_entry(tmp_path, cohort):
    """Two workers ask for the same entry at the same instant: one builds it, the other waits and reads it."""
    sig = tmp_path / "signals.npy"
    np.save(sig, np.concatenate([cohort.signals] * 3))
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(sig), str(tmp_path / "c"), str(ready), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(o["hit"] for o in outs) == [False, True]
    assert outs[0]["key"] == outs[1]["key"] and outs[0]["sum"] == outs[1]["sum"]
    root = tmp_path / "c" / cache.SUBDIR
    assert [p.name for p in root.iterdir() if p.is_dir()] == [outs[0]["key"]]


def test_cache_command(tmp_path, cohort, capsys):
    small = SimpleNamespace(signals=cohort.signals[:4], fingerprint="fp-cli")
    cache.build_features(Raw(), small, np.arange(3), tmp_path)
    cache.build_features(PaperImage(width=64), small, np.arange(3), tmp_path)
    assert cli(["cache", "info", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 representation entries" in out and "raw-" in out and "image-" in out and "width=64" in out
    assert cli(["cache", "info", "image-*", "--dir", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["representation"] for e in listed] == ["image"] and listed[0]["bytes"] >= 4 * 3 * 49 * 64
    assert cli(["cache", "clear", "image-*", "--dir", str(tmp_path)]) == 0
    assert [e["representation"] for e in cache.list_entries(tmp_path)] == ["raw"]
    assert cli(["cache", "clear", "--dir", str(tmp_path)]) == 0
    assert cache.list_entries(tmp_path) == []
    assert "1 entries removed" in capsys.readouterr().out


def test_representation_cost(cohort):
    cost = cache.representation_cost(DwtPca(), cohort.signals[:4])  # unfitted: fitted on a clone for timing
    assert cost["repr_bytes_per_ecg"] == 28 * 4 and cost["repr_ms_per_ecg"] > 0
    img = cache.representation_cost(PaperImage(width=128), cohort.signals[:2])
    assert img["repr_bytes_per_ecg"] == 3 * 99 * 128
