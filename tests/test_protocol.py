"""Protocol fidelity: a task's representation defaults (8 principal components for MI localisation) reach the cell's
config, logged params and key under the grid's own params; the 2D ResNet's former name fails in one line naming the
new one; a run says when the ImageNet weights it asked for were absent."""
from __future__ import annotations

import dataclasses
import io
import json

import pytest
import torch

from bench.base.errors import GridError
from bench.harness.driver import run_grid
from bench.harness.grid import AxisEntry, load_grid
from bench.harness.grid_schema import builder_params
from bench.harness.tracking import client_for, default_tracking_uri
from models import MODELS
from representations import REPRESENTATIONS
from tasks import TASKS

from _grids import grid_toml  # noqa: E402 - tests/ is on sys.path under pytest


def protocol_grid(**axes) -> str:
    return grid_toml("protocol", "synthetic:90,seed=5", eval={"clinical": False, "log_model": False}, **axes)


def _grid(tmp_path, text: str):
    p = tmp_path / "grid.toml"
    p.write_text(text)
    return load_grid(str(p))


def test_territory_cells_get_eight_components_under_the_grid(tmp_path):
    text = protocol_grid(tasks=["mi", "mi_territory"],
                         representations=["dwt_pca", ("dwt_pca", "dwt_pca-7", {"n_components": 7})], models=["mlp"])
    cells, _ = _grid(tmp_path, text).expand()
    by = {(c.task.id, c.representation.id): c for c in cells}
    territory = by[("mi_territory", "dwt_pca")]
    assert territory.representation.params == {"n_components": 8}
    assert territory.flat_params()["representation.params.n_components"] == 8
    # detection keeps the representation's own default (7); a grid that sets the param wins over the task
    assert by[("mi", "dwt_pca")].representation.params == {}
    assert by[("mi_territory", "dwt_pca-7")].representation.params == {"n_components": 7}
    # the default is part of the key: the same cell without it is another experiment
    without = dataclasses.replace(territory, representation=AxisEntry("dwt_pca"))
    assert territory.key("fp") != without.key("fp")
    assert REPRESENTATIONS.get("dwt_pca")(**territory.representation.params).output_shape() == (32,)


def test_representation_defaults_name_real_params():
    """Every task's defaults name a registered representation and parameters it takes (the grid file's own params
    are checked when it loads; these enter cells beside them)."""
    for entry in TASKS:
        for rep, params in entry.obj.representation_defaults.items():
            known = builder_params("representations", REPRESENTATIONS.get(rep))
            assert known is None or set(params) <= set(known), (entry.name, rep, params)
    assert TASKS.get("mi_territory").representation_defaults == {"dwt_pca": {"n_components": 8}}


def test_former_resnet_name_fails_naming_the_new_one(tmp_path):
    text = protocol_grid(tasks=["mi"], representations=["image"], models=["resnet152"])
    with pytest.raises(GridError) as e:
        _grid(tmp_path, text)
    msg = str(e.value)
    assert "\n" not in msg
    assert "models[0].name = \"resnet152\": model 'resnet152' was renamed 'resnet2d'" in msg


@pytest.mark.parametrize("name,params", [("cnn1d", {"pool": 2}), ("resnet1d", {"depth": 18, "width": 0.25}),
                                         ("dilated_resnet1d", {})])
def test_sequence_models_need_no_fixed_input_scale(name, params):
    """`raw` now feeds millivolts: each 1D model's first convolution feeds a BatchNorm, so in training a batch at any
    overall gain gives the same outputs, from a 0.3 mV-SD ECG (typical in millivolts) through a z-scored one (SD 1) to
    12 mV, so no scaling constant is needed (BatchNorm's eps only matters for ECGs of a few µV)."""
    torch.manual_seed(0)
    model = MODELS.get(name)((12, 1000), {"mi": 1}, **params).train()
    x = torch.randn(8, 12, 1000) * 0.3
    outs = []
    for gain in (1.0, 1 / 0.3, 40.0):
        torch.manual_seed(1)  # the same dropout masks
        outs.append(model(x * gain)["mi"].detach())
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=1e-3, atol=2e-4)


@pytest.mark.slow
def test_runs_log_components_and_absent_weights(tmp_path):
    """Through the real harness: the territory cell's features have 4 x 8 columns and its params say 8; a 2D ResNet
    asked for a weights file that is absent trains from scratch only with if_absent = "scratch", and says so."""
    absent = tmp_path / "resnet18_in1k.pth"
    text = protocol_grid(tasks=["mi_territory"], representations=["dwt_pca", ("image", "image@64", {"width": 64})],
                         models=["mlp", ("resnet2d", "resnet2d-18-imagenet",
                                         {"depth": 18, "pretrained": str(absent), "if_absent": "scratch"})])
    grid = _grid(tmp_path, text)
    results = tmp_path / "results"
    uri = default_tracking_uri(results)
    with pytest.warns(UserWarning, match="resnet18_in1k.pth: pretrained weights file not found; training from scratch"):
        run_grid(grid, tracking_uri=uri, results_dir=results, cache_dir=tmp_path / "cache", progress=False,
                 out=io.StringIO())
    client = client_for(uri)
    runs = client.search_runs([client.get_experiment_by_name("repbench-protocol").experiment_id])
    by_model = {r.data.tags["model"]: r for r in runs}
    assert {r.info.status for r in runs} == {"FINISHED"}, {m: r.data.tags.get("status_reason") for m, r in
                                                          by_model.items()}
    mlp = {k: json.loads(v) for k, v in by_model["mlp"].data.params.items()}  # params are logged as JSON text
    assert mlp["representation.params.n_components"] == 8 and mlp["model_contract.input_shape"] == "32"
    resnet = {k: json.loads(v) for k, v in by_model["resnet2d-18-imagenet"].data.params.items()}
    assert resnet["model_contract.pretrained_source"] == "absent" and resnet["model_contract.pretrained"] is False
