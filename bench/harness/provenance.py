"""Which code trained a run: the git commit of the checkout, whether its tracked files had uncommitted changes, and
the package version, logged as tags on every run and stated under every table (`bench.report.provenance`).

The commit goes under MLflow's own tag `mlflow.source.git.commit`, so the MLflow UI shows it in its "Source" column.
Asked of the `git` command line (three short calls, once per process): GitPython, MLflow's way, is only a
transitive dependency here, and a commit is all we need. Outside a git checkout (an installed wheel, a copied
tree) or without `git`, the commit reads 'unknown', never a guess.
"""
from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

import bench

COMMIT_TAG = "mlflow.source.git.commit"
DIRTY_TAG = "code_dirty"
VERSION_TAG = "bench_version"
UNKNOWN = "unknown"

#: The checkout holding this package (bench/harness/provenance.py -> the repository root).
ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=1)
def code_tags() -> dict[str, str]:
    """{commit tag: full SHA or 'unknown', 'code_dirty': 'true'/'false'/'unknown', 'bench_version': version}.

    Read once per process (the first call; the driver makes it before the first cell), so every run of one
    `bench run` carries the same answer even if the checkout moves on while it runs. 'dirty' counts tracked files
    only: an untracked scratch file does not change what trained the model.
    """
    top = _git("rev-parse", "--show-toplevel")
    commit = _git("rev-parse", "HEAD") if top and Path(top).resolve() == ROOT else None
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    dirty = UNKNOWN if status is None else ("true" if status else "false")
    return {COMMIT_TAG: commit or UNKNOWN, DIRTY_TAG: dirty, VERSION_TAG: bench.__version__}
