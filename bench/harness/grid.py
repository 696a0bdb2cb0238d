"""Grid files (TOML) and their expansion into cells.

A grid names a data source, training/split/evaluation settings and three axes (tasks, representations, models, each
a list of `{name, params, label}` tables) plus seeds. Cells are the cross product, keeping only pairs where the
model accepts the representation's output kind; the others are listed as skipped with the reason.

A cell is a frozen, picklable config: `run_cell(cell)` is a pure function of it (plus the data), and its key (hash of
the resolved config + data fingerprint + package version + the task, representation and model versions) identifies
its MLflow run, so re-runs skip finished cells. The file is checked whole when it loads (bench.harness.grid_schema).
"""
from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import bench
from bench.base.errors import GridError
from bench.harness.grid_schema import (check_axes, check_schema, check_sources, check_train_sizes, expand_source,
                                       resolved_defaults)

#: Defaults of the resolved cell config (the schema's, less the keys that enter it only when a grid sets them).
DEFAULT_TRAIN: dict[str, Any] = resolved_defaults("train")
DEFAULT_SPLIT: dict[str, Any] = resolved_defaults("split")
DEFAULT_EVAL: dict[str, Any] = resolved_defaults("eval")
AXES = ("tasks", "representations", "models")


@dataclass(frozen=True)
class AxisEntry:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    train: dict[str, Any] = field(default_factory=dict)  # per-entry overrides (models: batch size, epochs)

    @property
    def id(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Cell:
    grid: str
    source: str
    task: AxisEntry
    representation: AxisEntry
    model: AxisEntry
    seed: int
    train: dict[str, Any]
    split: dict[str, Any]
    eval: dict[str, Any]
    fold: int = 0  # test fold 1..K of a K-fold grid; 0 = the single split
    external: dict[str, str] = field(default_factory=dict)  # external cohort name -> source spec
    train_size: int = 0  # training patients of a learning-curve cell (`[split] train_sizes`); 0 = the whole part

    @property
    def leaky(self) -> bool:
        return bool(self.split.get("record_wise_LEAKY"))

    @property
    def label(self) -> str:
        fold = f"/f{self.fold}" if self.fold else ""
        size = f"/n{self.train_size}" if self.train_size else ""
        leak = "/LEAKY" if self.leaky else ""
        return f"{self.task.id}/{self.representation.id}/{self.model.id}/s{self.seed}{fold}{size}{leak}"

    def config(self) -> dict[str, Any]:
        """The whole resolved config, JSON-able. `fold`, `external` and `train_size` appear only when set, so grids
        without them keep the cell keys they had before these existed."""
        cfg = json.loads(json.dumps(asdict(self), sort_keys=True, default=str))
        for k in ("fold", "external", "train_size"):
            if not cfg[k]:
                cfg.pop(k)
        return cfg

    def flat_params(self) -> dict[str, Any]:
        """MLflow params: every leaf of the resolved config under its dotted key (lists stay whole); logged as JSON
        text by bench.harness.tracking.log_params."""
        out: dict[str, Any] = {}

        def walk(prefix: str, obj: Any) -> None:
            if isinstance(obj, dict):
                for k, v in obj.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = obj

        walk("", self.config())
        return out

    def key(self, data_fingerprint: str) -> str:
        """Hash of the resolved config, the data (and each external cohort's), the package version and the
        `version` of the cell's task, representation and model (each bumped when its output changes), so a changed
        entry reruns its cells."""
        from models import MODELS
        from representations import REPRESENTATIONS
        from tasks import TASKS

        cfg = self.config()
        cfg.pop("grid")  # the same cell in two grid files is the same experiment
        rep_version = str(getattr(REPRESENTATIONS.get(self.representation.name), "version", "0"))
        key = {"cfg": cfg, "data": data_fingerprint, "version": bench.__version__,
               "representation_version": rep_version, "task_version": str(TASKS.get(self.task.name).version),
               "model_version": str(MODELS.entry(self.model.name).info["version"])}
        if self.external:  # the external cohorts' data too: a changed file there reruns the cell (only such cells)
            from bench.data.fingerprint import cached_fingerprint

            key["external_data"] = {name: cached_fingerprint(source) for name, source in sorted(self.external.items())}
        blob = json.dumps(key, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _with_defaults(entry: AxisEntry, defaults: dict[str, Any] | None) -> AxisEntry:
    """The representation entry with a task's protocol params (`Task.representation_defaults`) under the grid's own
    params, so the cell's config, logged params and key carry them; unchanged (same key) when there are none."""
    if not defaults:
        return entry
    return AxisEntry(entry.name, {**defaults, **entry.params}, entry.label, entry.train)


@dataclass(frozen=True)
class Skipped:
    task: str
    representation: str
    model: str
    reason: str


@dataclass
class Grid:
    name: str
    path: str
    source: str
    seeds: list[int]
    tasks: list[AxisEntry]
    representations: list[AxisEntry]
    models: list[AxisEntry]
    train: dict[str, Any]
    split: dict[str, Any]
    eval: dict[str, Any]
    experiment: str = ""
    description: str = ""
    external: dict[str, str] = field(default_factory=dict)  # external cohort name -> source spec (expanded)

    def folds(self) -> list[int]:
        """Test folds, one cell each: 1..K with `[split] folds = K`, else [0] (the single split)."""
        k = int(self.split.get("folds") or 0)
        return list(range(1, k + 1)) if k else [0]

    def split_variants(self) -> list[tuple[dict[str, Any], int]]:
        """(the cell's `[split]`, its training size) per split a cell runs under: one per `train_sizes` entry
        (ascending; the list itself leaves the cell's config, so adding a size keeps the other cells' keys), one per
        `record_wise_LEAKY` value when that is a list (a scalar stays as written: existing keys do not change)."""
        base = {k: v for k, v in self.split.items() if k != "train_sizes"}
        leaky = self.split.get("record_wise_LEAKY")
        splits = [{**base, "record_wise_LEAKY": v} for v in leaky] if isinstance(leaky, list) else [base]
        sizes = sorted(self.split.get("train_sizes") or [0])
        return [(s, n) for s in splits for n in sizes]

    def expand(self) -> tuple[list[Cell], list[Skipped]]:
        from models import MODELS
        from representations import REPRESENTATIONS
        from tasks import TASKS

        cells: list[Cell] = []
        skipped: list[Skipped] = []
        for t in self.tasks:
            task_defaults = TASKS.get(t.name).representation_defaults
            for r_grid in self.representations:
                r = _with_defaults(r_grid, task_defaults.get(r_grid.name))
                kind = REPRESENTATIONS.entry(r.name).info["kind"]
                for m in self.models:
                    accepts = MODELS.entry(m.name).info["accepts"]
                    if kind not in accepts:
                        skipped.append(Skipped(t.id, r.id, m.id,
                                               f"model {m.name!r} accepts {'/'.join(accepts)} inputs; "
                                               f"representation {r.name!r} gives {kind}"))
                        continue
                    train = {**self.train, **m.train}
                    for s in self.seeds:
                        for fold in self.folds():
                            for split, size in self.split_variants():
                                cells.append(Cell(self.name, self.source, t, r, m, int(s), train, dict(split),
                                                  dict(self.eval), fold, dict(self.external), size))
        # Seed-major order: an interrupted grid has whole seeds done (every pair at seed 0 before any at seed 1), so
        # its tables compare every pair on the same seeds. The sort is stable: the axes keep the file's order.
        cells.sort(key=lambda c: c.seed)
        return cells, skipped


def _entries(doc: dict, axis: str, where: str) -> list[AxisEntry]:
    out = [AxisEntry(e["name"], dict(e.get("params", {})), e.get("label", ""), dict(e.get("train", {})))
           for e in ({"name": e} if isinstance(e, str) else e for e in doc[axis])]
    ids = [e.id for e in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise GridError(f"grid {where}: {axis} entries {sorted(dup)} share an id; give them distinct 'label's")
    return out


def _section(doc: dict, name: str, defaults: dict) -> dict:
    """`defaults` overridden by the file's [name] table (checked by the schema)."""
    return {**defaults, **doc.get(name, {})}


def builtin_grids() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("bench.grids").iterdir() if p.name.endswith(".toml"))


def resolve_grid_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise GridError(f"grid file {p} does not exist")
        return p
    ref = resources.files("bench.grids") / f"{name_or_path}.toml"
    if not ref.is_file():
        raise GridError(f"unknown grid {name_or_path!r}: not a file, and not one of {builtin_grids()}")
    return Path(str(ref))


def load_grid(name_or_path: str, *, source: str | None = None) -> Grid:
    """Read and check a whole grid (schema, registries, sources; see grid_schema) before anything runs.
    `source` (the `--source` flag) replaces the grid's own."""
    path = resolve_grid_path(name_or_path)
    given = Path(name_or_path)
    where = name_or_path if given.suffix == ".toml" or given.exists() else path.name
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise GridError(f"grid {where}: not valid TOML: {e}") from None
    schema = check_schema(doc, where)
    if source:
        sources = {"--source": source}
    elif schema.source:
        sources = {"source": expand_source(schema.source, where, "source")}
    else:
        raise GridError(f"grid {where}: source is missing (e.g. source = \"synthetic:400,seed=1\", or pass --source)")
    external = [{"name": e.name, "source": expand_source(e.source, where, f"external[{i}].source")}
                for i, e in enumerate(schema.external)]
    check_axes(schema, where)
    check_train_sizes(schema.split, next(iter(sources.values())), where)
    check_sources(schema.tasks, {**sources, **{f"external[{i}].source": e["source"] for i, e in enumerate(external)}},
                  where)
    name = schema.name or path.stem
    grid = Grid(
        name=name,
        path=str(path),
        source=next(iter(sources.values())),
        seeds=[int(s) for s in schema.seeds],
        tasks=_entries(doc, "tasks", where),
        representations=_entries(doc, "representations", where),
        models=_entries(doc, "models", where),
        train=_section(doc, "train", DEFAULT_TRAIN),
        split=_section(doc, "split", DEFAULT_SPLIT),
        eval=_section(doc, "eval", DEFAULT_EVAL),
        experiment=schema.experiment or f"repbench-{name}",
        description=schema.description,
        external=_external(external, next(iter(sources.values())), where),
    )
    cells, skipped = grid.expand()
    if not cells:
        why = "; ".join(sorted({s.reason for s in skipped}))
        raise GridError(f"grid {where}: no cell to run: every representation/model pair is incompatible ({why})")
    return grid


def _external(external: list[dict[str, str]], source: str, where: str) -> dict[str, str]:
    """`[[external]]` blocks (schema-checked) -> {name: source spec}; every cell is also scored on each cohort."""
    out: dict[str, str] = {}
    for e in external:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", e["name"]):
            raise GridError(f"grid {where}: external name {e['name']!r}: use letters, digits, '_', '.', '-' (it names "
                            "metrics external/<name>/<metric>)")
        if e["name"] in out:
            raise GridError(f"grid {where}: external name {e['name']!r} is used twice")
        if e["source"] == source:
            raise GridError(f"grid {where}: external {e['name']!r} has the grid's own source {source!r}; an external "
                            "cohort must be another cohort")
        out[e["name"]] = e["source"]
    return out
