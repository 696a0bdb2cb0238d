"""Every run records the commit that trained it, and every table says which commits its runs came from."""
from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest

from bench.harness import provenance
from bench.harness.provenance import COMMIT_TAG, DIRTY_TAG, VERSION_TAG, code_tags
from bench.report.provenance import provenance_note

REPO = provenance.ROOT


def _git(*args):
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)


def test_code_tags_name_this_checkout_commit():
    if shutil.which("git") is None or _git("rev-parse", "HEAD").returncode != 0:
        pytest.skip("not a git checkout (or no git): the commit cannot be read here")
    tags = code_tags.__wrapped__()
    assert tags[COMMIT_TAG] == _git("rev-parse", "HEAD").stdout.strip()
    assert len(tags[COMMIT_TAG]) == 40
    changed = _git("diff", "--quiet", "HEAD").returncode != 0  # tracked files differ from the commit
    assert tags[DIRTY_TAG] == ("true" if changed else "false")
    import bench

    assert tags[VERSION_TAG] == bench.__version__


def test_a_tree_outside_git_reads_unknown_not_a_guess(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "ROOT", tmp_path)  # a copied tree: no .git above it
    if subprocess.run(["git", "-C", str(tmp_path), "rev-parse"], capture_output=True).returncode == 0:
        pytest.skip("the temporary folder lies inside a git checkout on this machine")
    tags = code_tags.__wrapped__()
    assert tags[COMMIT_TAG] == "unknown" and tags[DIRTY_TAG] == "unknown"


def test_note_counts_runs_per_commit_most_first():
    a, b = "d83a9190" + "0" * 32, "5111219f" + "1" * 32
    runs = pd.DataFrame({f"tags.{COMMIT_TAG}": [a, a, a, b, None, "unknown"],
                         f"tags.{DIRTY_TAG}": ["false", "false", "false", "true", None, "unknown"]})
    assert provenance_note(runs) == (
        "Trained at: commit d83a919 (3 runs), commit 5111219 with uncommitted changes (1 run), "
        "commit not recorded (1 run), commit unknown (not run from a git checkout) (1 run).")
    old = pd.DataFrame({"tags.cell_key": ["k1", "k2"]})  # runs logged before the tags existed
    assert provenance_note(old) == "Trained at: commit not recorded (2 runs)."
    assert provenance_note(pd.DataFrame()) == "Trained at: no finished run."
