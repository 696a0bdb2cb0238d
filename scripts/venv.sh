#!/usr/bin/env bash
# Make sure a virtual environment with ECG RepBench and its dev tools exists; print its python.
# The environment lives outside the checkout, keyed by a hash of pyproject.toml, so a fresh clone (and CI) reuses
# it: dependencies install once (~2 minutes, plain pip: see README "Install"), the project itself is re-linked.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
hash=$(sha256sum "$root/pyproject.toml" | cut -c1-12)
venv=${BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ecg-repbench/venv-$hash}
py=${PYTHON:-python3}
if [ ! -f "$venv/.complete" ]; then
  echo "setting up $venv (first time: installs torch, timm, mlflow, ...)" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -e "$root[dev]" >&2
  touch "$venv/.complete"
else
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$root" >&2
fi
echo "$venv/bin/python"
