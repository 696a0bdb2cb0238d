"""The schema of a grid file (pydantic), checked whole when the grid loads: before any cell runs and before any MLflow
experiment or run exists.

Three layers, each answering with one line that names the grid file, the dotted key and the value
(`grid mine.toml: train.epochs = -1: must be >= 1`):

1. types, ranges and unknown keys, from the pydantic models below (strict: TOML already types its values, so
   `lr = "fast"` or `epochs = true` is an error, not a coercion); an unknown key gets the close known ones;
2. each axis entry against its registry: the name is registered, its `params` are keywords the builder takes
   (representations: the class `__init__`; models: the builder after `input_shape, heads`; tasks: `defaults`
   or `__init__`), and a parameter whose default is a bool, number or string is given one;
3. each source (`source`, `--source`, every `[[external]]`): `${VAR}` expanded from the environment, the spec
   parsed, its scheme a registered cohort source, and every task's `sources` containing it.

The schema only checks: `bench.harness.grid` still builds the resolved config from the file's own values, so cell
keys of existing grids do not change. Keys with no default in the resolved config (`[split] folds`,
`[eval] log_model`, `[train] amp`, ...) enter it only when a grid sets them; their defaults are the ones here.
"""
from __future__ import annotations

import difflib
import inspect
import json
import os
import string
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.base.errors import CohortError, GridError

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]


#: Keys with no default in the resolved cell config: they enter it only when a grid sets them, so grids written
#: before they existed keep their cell keys. Their schema defaults below are what the harness assumes when absent.
OPTIONAL_KEYS = {"train": frozenset({"amp", "channels_last", "compile"}),
                 "split": frozenset({"folds", "record_wise_LEAKY", "train_sizes"}),
                 "eval": frozenset({"log_model", "clinical", "subgroups", "age_bands"})}


def resolved_defaults(section: str) -> dict[str, Any]:
    """The defaults every resolved cell config carries for `[section]` (train, split, eval)."""
    model = {"train": TrainSection, "split": SplitSection, "eval": EvalSection}[section]
    return {k: v for k, v in model().model_dump().items() if k not in OPTIONAL_KEYS[section]}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TrainSection(_Strict):
    """`[train]`, and each axis entry's `train` overrides."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    optimizer: Literal["adam"] = "adam"
    lr: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 3e-4
    weight_decay: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    schedule: Literal["onecycle", "constant"] = "onecycle"
    patience: NonNegativeInt = 3
    max_train_batches: NonNegativeInt = 0
    eval_batch_size: PositiveInt = 64
    num_threads: NonNegativeInt = 0
    amp: bool = True
    channels_last: bool = False
    compile: bool = False


class SplitSection(_Strict):
    val: Fraction = 0.15
    test: Fraction = 0.2
    seed: NonNegativeInt = 0
    fold_column: str = ""
    folds: Annotated[int, Field(ge=2)] | None = None
    #: true splits ECGs ignoring patients (one patient's ECGs on both sides), only to measure how much that leakage
    #: inflates a score; such runs are tagged `split = record-wise-LEAKY` and the run prints a warning.
    #: `[false, true]` runs every cell under both splits (tag `split_kind` = patient / record_LEAKY): the leak table.
    record_wise_LEAKY: bool | list[bool] = False
    #: numbers of training patients, one cell each (learning curves): nested random subsets of the training part,
    #: the same validation and test patients for every size.
    train_sizes: Annotated[list[PositiveInt], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _room_for_training(self):
        if self.val + self.test >= 1:
            raise ValueError(f"val + test = {self.val + self.test:g}: must be < 1 (nothing left to train on)")
        return self

    @field_validator("record_wise_LEAKY", mode="before")
    @classmethod
    def _bool_or_bools(cls, value):
        if isinstance(value, bool) or (isinstance(value, list) and value and all(isinstance(v, bool) for v in value)):
            return value
        shown = f"{_shown(value)}: " if isinstance(value, (list, dict)) else ""  # _explain shows scalar values
        raise ValueError(f"{shown}must be true, false or a list of them ([false, true] runs both splits)")

    @model_validator(mode="after")
    def _one_split_per_comparison(self):
        leaky = self.record_wise_LEAKY if isinstance(self.record_wise_LEAKY, list) else [self.record_wise_LEAKY]
        if len(set(leaky)) < len(leaky):
            raise ValueError(f"record_wise_LEAKY = {json.dumps(leaky)}: lists a value twice")
        if self.train_sizes is not None and len(set(self.train_sizes)) < len(self.train_sizes):
            raise ValueError(f"train_sizes = {self.train_sizes}: lists a size twice")
        if self.train_sizes is not None and self.folds is not None:
            raise ValueError(f"train_sizes with folds = {self.folds}: a learning curve keeps one fixed validation and "
                             "test set, K folds have K; drop one of the two")
        if self.train_sizes is not None and any(leaky):
            raise ValueError("train_sizes with record_wise_LEAKY = true: sizes count training patients, which a "
                             "record-wise split does not keep apart")
        if isinstance(self.record_wise_LEAKY, list) and self.folds is not None:
            raise ValueError(f"record_wise_LEAKY = {json.dumps(leaky)} with folds = {self.folds}: the leak is measured "
                             "on the single split; drop folds")
        return self


class EvalSection(_Strict):
    n_boot: PositiveInt = 200
    boot_seed: NonNegativeInt = 0
    gradcam_ecgs: NonNegativeInt = 2
    log_model: bool = True
    #: clinical-only baseline, ECG + clinical combination and independent-predictor model (bench.harness.clinical),
    #: where the cohort carries covariates
    clinical: bool = True
    subgroups: list[Annotated[str, Field(min_length=1)]] = []
    age_bands: Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=1)] = [50.0, 65.0, 80.0]

    @field_validator("age_bands")
    @classmethod
    def _increasing(cls, value):
        if any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError(f"{value}: band edges must increase strictly")
        return value


class AxisEntrySchema(_Strict):
    name: Annotated[str, Field(min_length=1)]
    params: dict[str, Any] = {}
    label: str = ""
    train: TrainSection = TrainSection()

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data):
        return {"name": data} if isinstance(data, str) else data


class ExternalSchema(_Strict):
    name: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]


class GridSchema(_Strict):
    name: str = ""
    description: str = ""
    experiment: str = ""
    source: str = ""
    seeds: Annotated[list[NonNegativeInt], Field(min_length=1)] = [0]
    train: TrainSection = TrainSection()
    split: SplitSection = SplitSection()
    eval: EvalSection = EvalSection()
    tasks: Annotated[list[AxisEntrySchema], Field(min_length=1)]
    representations: Annotated[list[AxisEntrySchema], Field(min_length=1)]
    models: Annotated[list[AxisEntrySchema], Field(min_length=1)]
    external: list[ExternalSchema] = []

    @field_validator("external")
    @classmethod
    def _unique_names(cls, value):
        names = [e.name for e in value]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"names {dup} appear more than once: each external cohort needs its own name")
        return value


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _inner_model(annotation) -> type[BaseModel] | None:
    """The schema model inside a field's annotation (`TrainSection`, `list[AxisEntrySchema]`, `X | None`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The schema model that holds the key at `loc` (to list the known keys next to an unknown one)."""
    model: type[BaseModel] | None = GridSchema
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) if model else None
        model = _inner_model(field.annotation) if field else None
    return model


def did_you_mean(key: str, known) -> str:
    """' (did you mean X? known: a, b, c)' for an unknown `key` among `known`."""
    close = difflib.get_close_matches(key, list(known), n=2)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f" ({hint}known: {', '.join(sorted(known)) or 'none'})"


#: pydantic error type -> the reason shown, formatted with the error's context.
REASONS = {
    "greater_than_equal": "must be >= {ge}", "greater_than": "must be > {gt}", "less_than": "must be < {lt}",
    "too_short": "must not be empty", "int_type": "must be an integer", "int_from_float": "must be an integer",
    "float_type": "must be a number", "finite_number": "must be finite", "bool_type": "must be true or false",
    "string_type": "must be a string", "list_type": "must be a list", "dict_type": "must be a table",
    "model_type": "must be a table", "model_attributes_type": "must be a table",
    "literal_error": "must be one of {expected}",
}


def _explain(err: dict) -> str:
    """One pydantic error as `dotted.key = value: reason`."""
    loc, kind, ctx = tuple(err["loc"]), err["type"], err.get("ctx") or {}
    where = _dotted(loc)
    if kind == "missing":
        return f"{where}: is required"
    if kind == "too_short" and loc == ("seeds",):
        return "seeds = []: lists no seed, so the grid would run nothing"
    if kind == "extra_forbidden":
        model = _model_at(loc)
        reason = "unknown key" + (did_you_mean(str(loc[-1]), model.model_fields) if model else "")
    elif kind == "value_error":
        reason = str(ctx.get("error", err["msg"]))
        if isinstance(err.get("input"), (dict, list)):  # a check over a whole table: the reason shows the values
            return f"{where}: {reason}"
    else:
        reason = REASONS.get(kind, "{msg}").format(**ctx, msg=err["msg"])
    return f"{where} = {_shown(err.get('input'))}: {reason}"


def check_schema(doc: dict, where: str) -> GridSchema:
    try:
        return GridSchema.model_validate(doc)
    except ValidationError as e:
        raise GridError(f"grid {where}: " + "; ".join(_explain(err) for err in e.errors())) from None


# --- axis entries against the registries ---------------------------------------------------------------------------

def builder_params(axis: str, obj) -> dict[str, Any] | None:
    """{keyword: default} an axis entry's builder takes (`inspect.Parameter.empty` when it has none), or None when it
    takes any keyword (`**params`)."""
    if axis == "tasks" and getattr(obj, "defaults", None):
        return dict(obj.defaults)
    fn = obj.__init__ if inspect.isclass(obj) else obj
    sig = list(inspect.signature(fn).parameters.values())
    skip = 1 if inspect.isclass(obj) else (2 if axis == "models" else 0)  # self; input_shape, heads
    rest = sig[skip:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest):
        return None
    return {p.name: p.default for p in rest
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}


def _kind_mismatch(value, default) -> str | None:
    """What `value` must be, when a default of a plain type (bool, number, string) says it is something else."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, bool) and not isinstance(value, bool):
        return "true or false"
    if isinstance(default, (int, float)) and not isinstance(default, bool) and not number:
        return "a number"
    if isinstance(default, str) and not isinstance(value, str):
        return "a string"
    return None


def check_axes(schema: GridSchema, where: str) -> None:
    from bench.base.registry import RegistryError
    from models import MODELS
    from representations import REPRESENTATIONS
    from tasks import TASKS

    registries = {"tasks": TASKS, "representations": REPRESENTATIONS, "models": MODELS}
    problems: list[str] = []
    for axis, registry in registries.items():
        for i, entry in enumerate(getattr(schema, axis)):
            try:
                obj = registry.get(entry.name)
            except RegistryError as e:
                problems.append(f"{axis}[{i}].name = {_shown(entry.name)}: {e}")
                continue
            known = builder_params(axis, obj)
            if known is None:
                continue
            for key, value in entry.params.items():
                if key not in known:
                    problems.append(f"{axis}[{i}].params.{key} = {_shown(value)}: {axis[:-1]} {entry.name!r} has no "
                                    f"parameter {key!r}{did_you_mean(key, known)}")
                elif expected := _kind_mismatch(value, known[key]):
                    problems.append(f"{axis}[{i}].params.{key} = {_shown(value)}: must be {expected} "
                                    f"(default {_shown(known[key])})")
    if problems:
        raise GridError(f"grid {where}: " + "; ".join(problems))


# --- sources -------------------------------------------------------------------------------------------------------

def expand_source(spec: str, where: str, key: str) -> str:
    """`${VAR}` (or `$VAR`) in a source spec, from the environment; an unset variable is an error."""
    try:
        return string.Template(spec).substitute(os.environ)
    except KeyError as e:
        hint = f" (or pass --source {spec.partition(':')[0]}:PATH)" if key == "source" else ""
        raise GridError(f"grid {where}: {key}: environment variable {e.args[0]} is not set{hint}") from None
    except ValueError as e:
        raise GridError(f"grid {where}: {key} = {_shown(spec)}: {e} (write $$ for a literal $)") from None


def source_scheme(spec: str, where: str, key: str) -> str:
    """The spec's scheme, after checking it parses and names a registered cohort source."""
    from bench.base.cohort import SOURCES, parse_spec

    try:
        scheme, _, _ = parse_spec(spec)
    except CohortError as e:
        raise GridError(f"grid {where}: {key} = {_shown(spec)}: {e}") from None
    if scheme not in SOURCES:
        raise GridError(f"grid {where}: {key} = {_shown(spec)}: unknown source scheme {scheme!r}"
                        f"{did_you_mean(scheme, SOURCES.names())}")
    return scheme


def check_sources(tasks: list, sources: dict[str, str], where: str) -> None:
    """Every task can take its labels from every source (`sources`: key in the file -> expanded spec)."""
    from tasks import TASKS

    schemes = {key: source_scheme(spec, where, key) for key, spec in sources.items()}
    for entry in tasks:
        cls = TASKS.get(entry.name)
        for key, scheme in schemes.items():
            if scheme not in cls.sources:
                can = ", ".join(sorted(cls.sources)) or "none declared"
                raise GridError(f"grid {where}: task {entry.name!r} needs labels that source {sources[key]!r} "
                                f"does not have ({entry.name} can use: {can})")


def max_train_patients(n_patients: int, val: float, test: float) -> int:
    """Training patients a patient-grouped split of `n_patients` leaves (GroupShuffleSplit rounds test and val
    counts up): an upper bound for any task, whose records are a subset of the cohort's patients."""
    import math

    n_test = math.ceil(test * n_patients)
    rest = n_patients - n_test
    return rest - math.ceil(val / (1.0 - test) * rest)


def check_train_sizes(split: SplitSection, source: str, where: str) -> None:
    """Refuse a training size the cohort cannot hold, where its patient count is known from the spec
    (`synthetic:N`); other sources are checked when the cell splits its data."""
    from bench.base.cohort import parse_spec

    if not split.train_sizes or split.fold_column:
        return
    scheme, arg, _ = parse_spec(source)
    if scheme != "synthetic" or not arg.isdigit():
        return
    most = max_train_patients(int(arg), split.val, split.test)
    big = [n for n in split.train_sizes if n > most]
    if big:
        raise GridError(f"grid {where}: split.train_sizes = {split.train_sizes}: {big} exceed the {most} training "
                        f"patients that {source!r} leaves with val = {split.val:g}, test = {split.test:g}")
