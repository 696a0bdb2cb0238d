"""A grid is checked whole when it loads (bench.harness.grid_schema): each invalid grid is refused with one message
naming the file, the dotted key and the value; valid grids keep their resolved configs; new keys type-check."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.base.errors import GridError
from bench.harness.grid import load_grid

GRID = """
name = "mine"
source = "synthetic:60,seed=1"
seeds = [0]
[train]
epochs = 1
batch_size = 16
lr = 0.001
[split]
val = 0.2
test = 0.3
[eval]
n_boot = 20
[[tasks]]
name = "lvef"
[[representations]]
name = "raw"
[[models]]
name = "cnn1d"
"""

#: (what is wrong, edit of GRID, expected message after "grid mine.toml: ")
INVALID = [
    ("negative epochs", ("epochs = 1", "epochs = -1"), "train.epochs = -1: must be >= 1"),
    ("negative batch size", ("batch_size = 16", "batch_size = -4"), "train.batch_size = -4: must be >= 1"),
    ("lr not a number", ("lr = 0.001", 'lr = "fast"'), 'train.lr = "fast": must be a number'),
    ("lr zero", ("lr = 0.001", "lr = 0.0"), "train.lr = 0.0: must be > 0"),
    ("bool for an int", ("epochs = 1", "epochs = true"), "train.epochs = true: must be an integer"),
    ("unknown key in [train]", ("lr = 0.001", "lr = 0.001\nepoch = 3"),
     "train.epoch = 3: unknown key (did you mean epochs?"),
    ("unknown top-level key", ('seeds = [0]', 'seeds = [0]\nseed = 1'), "seed = 1: unknown key (did you mean seeds?"),
    ("unknown key in an axis entry", ('name = "cnn1d"', 'name = "cnn1d"\nparms = {}'),
     "models[0].parms = {}: unknown key (did you mean params?"),
    ("unknown model param", ('name = "cnn1d"', 'name = "cnn1d"\nparams = { kernel = 5 }'),
     "models[0].params.kernel = 5: model 'cnn1d' has no parameter 'kernel' (did you mean kernel_size?"),
    ("representation param of the wrong kind", ('name = "raw"', 'name = "raw"\nparams = { normalise = 1 }'),
     'representations[0].params.normalise = 1: must be a string (default "none")'),
    ("unknown task param", ('name = "lvef"', 'name = "lvef"\nparams = { threshhold = 35 }'),
     "tasks[0].params.threshhold = 35: task 'lvef' has no parameter 'threshhold' (did you mean threshold?"),
    ("unknown model", ('name = "cnn1d"', 'name = "cnn1x"'), 'models[0].name = "cnn1x": unknown model \'cnn1x\'; did you '
                                                            "mean cnn1d?"),
    ("unknown source scheme", ('source = "synthetic:60,seed=1"', 'source = "synthetc:60"'),
     "source = \"synthetc:60\": unknown source scheme 'synthetc' (did you mean synthetic?"),
    ("val + test >= 1", ("test = 0.3", "test = 0.8"), "split: val + test = 1: must be < 1"),
    ("val out of range", ("val = 0.2", "val = 0"), "split.val = 0: must be > 0"),
    ("task/source mismatch", ('source = "synthetic:60,seed=1"', 'source = "ptb:/nowhere"'),
     "task 'lvef' needs labels that source 'ptb:/nowhere' does not have (lvef can use: folder, synthetic)"),
    ("no seeds", ("seeds = [0]", "seeds = []"), "seeds = []: lists no seed, so the grid would run nothing"),
    ("negative seed", ("seeds = [0]", "seeds = [0, -1]"), "seeds[1] = -1: must be >= 0"),
    ("n_boot zero", ("n_boot = 20", "n_boot = 0"), "eval.n_boot = 0: must be >= 1"),
    ("no tasks", ('[[tasks]]\nname = "lvef"\n', ""), "tasks: is required"),
    ("model train override", ('name = "cnn1d"', 'name = "cnn1d"\ntrain = { eval_batch_size = 0 }'),
     "models[0].train.eval_batch_size = 0: must be >= 1"),
    ("only incompatible pairs", ('name = "raw"', 'name = "dwt_pca"'), "no cell to run: every representation/model "
                                                                      "pair is incompatible (model 'cnn1d' accepts"),
    ("folds below 2", ("test = 0.3", "test = 0.3\nfolds = 1"), "split.folds = 1: must be >= 2"),
    ("external name twice", ("[[tasks]]", '[[external]]\nname = "a"\nsource = "synthetic:30"\n'
                                          '[[external]]\nname = "a"\nsource = "synthetic:40"\n[[tasks]]'),
     "external: names ['a'] appear more than once"),
    ("external with a bad source", ("[[tasks]]", '[[external]]\nname = "a"\nsource = "ptb:/x"\n[[tasks]]'),
     "task 'lvef' needs labels that source 'ptb:/x' does not have"),
    ("log_model not a bool", ("n_boot = 20", 'n_boot = 20\nlog_model = "yes"'),
     'eval.log_model = "yes": must be true or false'),
    ("num_threads negative", ("lr = 0.001", "lr = 0.001\nnum_threads = -1"), "train.num_threads = -1: must be >= 0"),
    ("description not a string", ('name = "mine"', 'name = "mine"\ndescription = 3'),
     "description = 3: must be a string"),
]


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "mine.toml"
    p.write_text(text)
    return str(p)


def edited(edit: tuple[str, str]) -> str:
    old, new = edit
    assert old in GRID
    return GRID.replace(old, new, 1)


@pytest.mark.parametrize("what,edit,message", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_grid_is_refused_with_key_and_value(tmp_path, monkeypatch, what, edit, message):
    monkeypatch.chdir(tmp_path)  # the message names the file as the user gave it
    write(tmp_path, edited(edit))
    with pytest.raises(GridError) as e:
        load_grid("mine.toml")
    text = str(e.value)
    assert text.startswith("grid mine.toml: "), text
    assert message in text, text
    assert "\n" not in text


def test_every_problem_is_named_at_once(tmp_path):
    text = edited(("epochs = 1", "epochs = -1")).replace("batch_size = 16", "batch_size = -4").replace(
        "lr = 0.001", 'lr = "fast"')
    with pytest.raises(GridError) as e:
        load_grid(write(tmp_path, text))
    assert re.search(r"train\.epochs = -1.*train\.batch_size = -4.*train\.lr = \"fast\"", str(e.value))


def test_valid_grid_loads_and_new_keys_type_check(tmp_path):
    text = GRID.replace('name = "mine"', 'name = "mine"\ndescription = "a check"').replace(
        "lr = 0.001", "lr = 0.001\namp = false\nchannels_last = true\ncompile = false\nnum_threads = 1").replace(
        "test = 0.3", 'test = 0.3\nfolds = 5\nfold_column = "strat_fold"\nrecord_wise_LEAKY = false').replace(
        "n_boot = 20", "n_boot = 20\nlog_model = false").replace(
        "[[tasks]]", '[[external]]\nname = "other"\nsource = "synthetic:40,seed=2"\n[[tasks]]', 1)
    grid = load_grid(write(tmp_path, text))
    assert grid.description == "a check"
    assert grid.external == {"other": "synthetic:40,seed=2"}
    cells = grid.expand()[0]
    assert [c.fold for c in cells] == [1, 2, 3, 4, 5]  # one cell per test fold
    cell = cells[0]
    assert cell.split["folds"] == 5 and cell.split["record_wise_LEAKY"] is False
    assert cell.eval["log_model"] is False and cell.train["amp"] is False and cell.train["num_threads"] == 1


def test_keys_left_out_stay_out_of_the_resolved_config(tmp_path):
    """Grids that do not use the new keys keep their resolved config, hence their cell keys."""
    (cell,) = load_grid(write(tmp_path, GRID)).expand()[0]
    cfg = cell.config()
    assert set(cfg["train"]) == {"epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "patience",
                                 "max_train_batches", "eval_batch_size", "num_threads"}
    assert set(cfg["split"]) == {"val", "test", "seed", "fold_column"}
    assert set(cfg["eval"]) == {"n_boot", "boot_seed", "gradcam_ecgs"}
    assert cfg["train"]["lr"] == 0.001 and cfg["train"]["epochs"] == 1 and cfg["train"]["patience"] == 3


def test_source_expands_environment_variables(tmp_path, monkeypatch):
    text = GRID.replace('source = "synthetic:60,seed=1"', 'source = "synthetic:${BENCH_TEST_N},seed=1"')
    path = write(tmp_path, text)
    monkeypatch.delenv("BENCH_TEST_N", raising=False)
    with pytest.raises(GridError, match=r"^grid .*mine\.toml: source: environment variable BENCH_TEST_N is not set "
                                        r"\(or pass --source synthetic:PATH\)$"):
        load_grid(path)
    assert load_grid(path, source="synthetic:30").source == "synthetic:30"  # --source overrides, no variable needed
    monkeypatch.setenv("BENCH_TEST_N", "45")
    assert load_grid(path).source == "synthetic:45,seed=1"


def test_source_override_is_checked_against_the_tasks(tmp_path):
    with pytest.raises(GridError, match="task 'lvef' needs labels that source 'ptbxl:/data' does not have"):
        load_grid(write(tmp_path, GRID), source="ptbxl:/data")


@pytest.mark.parametrize("name", ["smoke", "small", "full", "medium", "sweep", "curves", "leak"])
def test_builtin_grids_are_valid(name):
    grid = load_grid(name)
    assert grid.expand()[0]
