"""The tests' small grid files, written from keywords so a test states only what makes its grid its own.

`grid_toml` writes the header every tiny grid shares (one seed; one epoch in batches of 16, no early stopping, one
thread; a 0.2/0.3 patient split; 20 bootstrap resamples, no Grad-CAM) and the axis tables after it. `lvef_grid` is the
end-to-end grid (LVEF on 90 simulated patients, raw and DWT+PCA into the 1D CNN and the MLP), so the local executor
(test_e2e.py) and Ray (test_ray.py) run the same cells; `shrunk_builtin_grid` makes a built-in grid tiny.

The TOML is written here rather than by a library: no TOML writer is a dependency, and tests edit the text line by
line (`name = "cnn1d"`, `test = 0.3`), so every table is written the way a user writes a grid file, with axis params
as inline tables (`params = { width = 64 }`).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from bench.harness.grid import resolve_grid_path

#: an axis entry: its registered name, or (name, label, params) with None for a part left out
Entry = str | tuple

#: the run settings left to the harness's own defaults, for grids that are only loaded and expanded
HARNESS_DEFAULTS = dict.fromkeys(("epochs", "batch_size", "patience", "num_threads", "n_boot", "gradcam_ecgs"))


def grid_toml(name: str, source: str, *, seeds: Iterable[int] = (0,), description: str | None = None,
              epochs: int | None = 1, batch_size: int | None = 16, patience: int | None = 0,
              num_threads: int | None = 1, val: float | None = 0.2, test: float | None = 0.3,
              n_boot: int | None = 20, gradcam_ecgs: int | None = 0, train: Mapping | None = None,
              split: Mapping | None = None, eval: Mapping | None = None, tasks: Iterable[Entry] = (),
              representations: Iterable[Entry] = (), models: Iterable[Entry] = (),
              external: Mapping[str, str] | None = None) -> str:
    """A grid file's text. A keyword set to None leaves its key out (the harness's default applies) and a section
    left with no key is not written; `train`, `split` and `eval` add keys to their sections; `external` maps each
    external cohort's name to its source."""
    sections = {"train": {"epochs": epochs, "batch_size": batch_size, "patience": patience,
                          "num_threads": num_threads, **(train or {})},
                "split": {"val": val, "test": test, **(split or {})},
                "eval": {"n_boot": n_boot, "gradcam_ecgs": gradcam_ecgs, **(eval or {})}}
    text = _keys({"name": name, "description": description, "source": source, "seeds": list(seeds)})
    for section, values in sections.items():
        if body := _keys(values):
            text += f"[{section}]\n{body}"
    for axis, entries in (("tasks", tasks), ("representations", representations), ("models", models)):
        for entry in entries:
            parts = (entry,) if isinstance(entry, str) else entry
            text += f"[[{axis}]]\n" + _keys(dict(zip(("name", "label", "params"), parts)))
    for ext_name, ext_source in (external or {}).items():
        text += "[[external]]\n" + _keys({"name": ext_name, "source": ext_source})
    return text


def lvef_grid(name: str, *, epochs: int, n_boot: int, gradcam_ecgs: int, num_threads: int | None = None,
              models: tuple[str, ...] = ("cnn1d", "mlp")) -> str:
    return grid_toml(name, "synthetic:90,seed=5", epochs=epochs, num_threads=num_threads, n_boot=n_boot,
                     gradcam_ecgs=gradcam_ecgs, tasks=["lvef"], representations=["raw", "dwt_pca"], models=models)


def shrunk_builtin_grid(tmp_path: Path, name: str, edits: Iterable[tuple[str, str]]) -> Path:
    """The built-in grid `name` with each (old, new) text edit made, written to tmp_path/<name>.toml; an old text
    that the grid no longer holds fails the test, so a changed built-in grid is noticed."""
    text = resolve_grid_path(name).read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _keys(values: Mapping) -> str:
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items() if v is not None)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_toml_value, value)) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"{value!r}: no TOML form for a {type(value).__name__}")
