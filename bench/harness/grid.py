"""Grid files (TOML) and their expansion into cells.

A grid names a data source, training/split/evaluation settings and three axes (tasks, representations, models, each
a list of `{name, params, label}` tables) plus seeds. Cells are the cross product, keeping only pairs where the
model accepts the representation's output kind; the others are listed as skipped with the reason.

A cell is a frozen, picklable config: `run_cell(cell)` is a pure function of it (plus the data), and its key (hash of
the resolved config + data fingerprint + package version) identifies its MLflow run, so re-runs skip finished cells.
"""
from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import bench
from bench.base.errors import GridError

DEFAULT_TRAIN: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 32,
    "optimizer": "adam",
    "lr": 3e-4,
    "weight_decay": 0.0,
    "schedule": "onecycle",
    "patience": 3,
    "max_train_batches": 0,  # 0 = no limit
    "eval_batch_size": 64,
    "num_threads": 0,  # 0 = torch default (all cores here, 1 in a Ray task); CPU results depend on it, so grids that
    # must give the same metrics on every executor and machine set it (logged as compute/threads)
}
#: GPU settings (bench/harness/train.py; defaults there: amp on, channels_last and compile off), optional so grids
#: without them keep their cell keys
OPTIONAL_TRAIN = frozenset({"amp", "channels_last", "compile"})
DEFAULT_SPLIT: dict[str, Any] = {"val": 0.15, "test": 0.2, "seed": 0, "fold_column": ""}
#: `record_wise_LEAKY = true` splits ECGs ignoring patients (one patient's ECGs on both sides), only to measure how much
#: that leakage inflates a score; such runs are tagged `split = record-wise-LEAKY` and the run prints a warning.
OPTIONAL_SPLIT = frozenset({"record_wise_LEAKY"})
DEFAULT_EVAL: dict[str, Any] = {"n_boot": 200, "boot_seed": 0, "gradcam_ecgs": 2}
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

    @property
    def label(self) -> str:
        return f"{self.task.id}/{self.representation.id}/{self.model.id}/s{self.seed}"

    def config(self) -> dict[str, Any]:
        """The whole resolved config, JSON-able."""
        return json.loads(json.dumps(asdict(self), sort_keys=True, default=str))

    def flat_params(self) -> dict[str, str]:
        """MLflow params: every leaf of the resolved config, dotted keys."""
        out: dict[str, str] = {}

        def walk(prefix: str, obj: Any) -> None:
            if isinstance(obj, dict):
                for k, v in obj.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = json.dumps(obj) if isinstance(obj, (list, tuple)) else str(obj)

        walk("", self.config())
        return out

    def key(self, data_fingerprint: str) -> str:
        """Hash of the resolved config, the data, the package version and the representation's own `version`
        (bumped when its output changes, as the representation cache does), so a changed representation reruns."""
        from representations import REPRESENTATIONS

        cfg = self.config()
        cfg.pop("grid")  # the same cell in two grid files is the same experiment
        rep_version = str(getattr(REPRESENTATIONS.get(self.representation.name), "version", "0"))
        blob = json.dumps({"cfg": cfg, "data": data_fingerprint, "version": bench.__version__,
                           "representation_version": rep_version}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


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

    def expand(self) -> tuple[list[Cell], list[Skipped]]:
        from models import MODELS
        from representations import REPRESENTATIONS
        from tasks import TASKS

        cells: list[Cell] = []
        skipped: list[Skipped] = []
        for t in self.tasks:
            TASKS.entry(t.name)
            for r in self.representations:
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
                        cells.append(Cell(self.name, self.source, t, r, m, int(s), train, dict(self.split),
                                          dict(self.eval)))
        # Seed-major order: an interrupted grid has whole seeds done (every pair at seed 0 before any at seed 1), so
        # its tables compare every pair on the same seeds. The sort is stable: the axes keep the file's order.
        cells.sort(key=lambda c: c.seed)
        return cells, skipped


def _entries(doc: dict, axis: str, where: str) -> list[AxisEntry]:
    raw = doc.get(axis)
    if not raw:
        raise GridError(f"{where}: [[{axis}]] is missing or empty")
    out = []
    for i, e in enumerate(raw):
        if isinstance(e, str):
            e = {"name": e}
        if "name" not in e:
            raise GridError(f"{where}: {axis}[{i}] has no 'name'")
        unknown = set(e) - {"name", "params", "label", "train"}
        if unknown:
            raise GridError(f"{where}: {axis}[{i}] has unknown keys {sorted(unknown)}")
        out.append(AxisEntry(e["name"], dict(e.get("params", {})), e.get("label", ""), dict(e.get("train", {}))))
    ids = [e.id for e in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise GridError(f"{where}: {axis} entries {sorted(dup)} share an id; give them distinct 'label's")
    return out


def _section(doc: dict, name: str, defaults: dict, where: str, optional: frozenset = frozenset()) -> dict:
    """`defaults` overridden by the file's [name] table. `optional` keys are allowed but have no default, so a grid
    that leaves them out keeps the cell keys it had before they existed."""
    given = dict(doc.get(name, {}))
    unknown = set(given) - set(defaults) - optional
    if unknown:
        raise GridError(f"{where}: [{name}] has unknown keys {sorted(unknown)} "
                        f"(known: {sorted(set(defaults) | optional)})")
    return {**defaults, **given}


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
    path = resolve_grid_path(name_or_path)
    where = str(path)
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise GridError(f"{where}: not valid TOML: {e}") from None
    known = {"name", "source", "seeds", "experiment", "train", "split", "eval", *AXES, "description"}
    unknown = set(doc) - known
    if unknown:
        raise GridError(f"{where}: unknown top-level keys {sorted(unknown)}")
    src = source or doc.get("source")
    if not src:
        raise GridError(f"{where}: no 'source' (e.g. source = \"synthetic:400,seed=1\")")
    name = doc.get("name", path.stem)
    return Grid(
        name=name,
        path=where,
        source=src,
        seeds=[int(s) for s in doc.get("seeds", [0])],
        tasks=_entries(doc, "tasks", where),
        representations=_entries(doc, "representations", where),
        models=_entries(doc, "models", where),
        train=_section(doc, "train", DEFAULT_TRAIN, where, OPTIONAL_TRAIN),
        split=_section(doc, "split", DEFAULT_SPLIT, where, OPTIONAL_SPLIT),
        eval=_section(doc, "eval", DEFAULT_EVAL, where),
        experiment=doc.get("experiment", f"repbench-{name}"),
    )
