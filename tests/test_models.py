"""Common checks over every registered model (the registry is iterated, so a new model is tested without edits):
builds with defaults for each input kind it accepts, one output of the right shape per head, gradients reach the
first layer, deterministic under a seed, positive parameter and FLOP counts, an input contract the harness logs."""
from __future__ import annotations

import pytest
import torch

from bench.base.errors import ModelError
from bench.harness.flops import count_params, flops_per_ecg
from models import MODELS
from models._contract import KIND_NDIM

#: One ECG's representation per kind, at the sizes the representations produce (images kept CPU-sized).
REPRESENTATIVE = {"sequence": (12, 5000), "image": (3, 96, 192), "vector": (28,)}
#: The AF task's heads (26-interval survival + age + sex + AF-in-statement) plus a multi-class head.
HEADS = {"survival": 26, "age": 1, "sex": 1, "af_in_statement": 1, "territory": 6}


def _cases():
    for entry in MODELS:
        for kind in entry.info["accepts"]:
            yield pytest.param(entry.name, kind, id=f"{entry.name}-{kind}")


def _input(kind: str, n: int = 2, seed: int = 123) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "image":  # float 0..1 images, as the loader delivers them
        return torch.rand((n, *REPRESENTATIVE[kind]), generator=g)
    return torch.randn((n, *REPRESENTATIVE[kind]), generator=g)


def _build(name: str, kind: str, seed: int):
    torch.manual_seed(seed)
    return MODELS.get(name)(REPRESENTATIVE[kind], HEADS)


def test_registry_holds_the_planned_models():
    assert {"cnn1d", "resnet2d", "resnet1d", "dilated_resnet1d", "mlp"} <= set(MODELS.names())
    for entry in MODELS:
        assert entry.info["accepts"] and set(entry.info["accepts"]) <= set(KIND_NDIM), entry.name


@pytest.mark.parametrize("name,kind", list(_cases()))
def test_model_contract(name: str, kind: str):
    x = _input(kind)
    model = _build(name, kind, seed=0)

    model.eval()  # before any training step changes BatchNorm statistics
    with torch.no_grad():
        ref = model(x)
        again = _build(name, kind, seed=0).eval()(x)
    for head in HEADS:
        torch.testing.assert_close(again[head], ref[head], rtol=0, atol=0)
    other = _build(name, kind, seed=1).state_dict()
    assert any(not torch.equal(v, other[k]) for k, v in model.state_dict().items()), "the seed changes nothing"

    model.train()
    out = model(x)
    assert set(out) == set(HEADS)
    for head, units in HEADS.items():
        assert out[head].shape == (len(x), units), head
        assert out[head].dtype == torch.float32 and torch.isfinite(out[head]).all(), head
    sum(o.sum() for o in out.values()).backward()
    first = next(p for p in model.parameters() if p.ndim > 1)
    assert first.grad is not None and first.grad.abs().sum() > 0, "no gradient reaches the first layer"

    assert count_params(model) > 0
    assert flops_per_ecg(model, REPRESENTATIVE[kind]) > 0
    assert model.training is True  # flops_per_ecg restores the mode it found

    contract = model.input_contract
    assert contract.kind == kind and contract.shape == REPRESENTATIVE[kind]
    assert dict(contract)["pretrained"] is False  # defaults never load weights


@pytest.mark.parametrize("name", MODELS.names())
def test_refuses_input_kinds_it_does_not_accept(name: str):
    accepts = MODELS.entry(name).info["accepts"]
    for kind, shape in REPRESENTATIVE.items():
        if kind not in accepts:
            with pytest.raises(ModelError, match=name):
                MODELS.get(name)(shape, HEADS)


@pytest.mark.parametrize("name", MODELS.names())
def test_unknown_parameter_is_an_error(name: str):
    kind = MODELS.entry(name).info["accepts"][0]
    with pytest.raises(TypeError, match="no_such_param"):
        MODELS.get(name)(REPRESENTATIVE[kind], HEADS, no_such_param=1)


def test_heads_must_be_named_and_nonempty():
    with pytest.raises(ModelError, match="at least one head"):
        MODELS.get("mlp")((28,), {})
    with pytest.raises(ModelError, match="a.b"):
        MODELS.get("mlp")((28,), {"a.b": 1})


def test_input_shape_checks_name_the_model():
    with pytest.raises(ModelError, match="'resnet2d': image input must have 3 channels"):
        MODELS.get("resnet2d")((1, 64, 64), HEADS)
    with pytest.raises(ModelError, match="'cnn1d': input length 100 is too short"):
        MODELS.get("cnn1d")((12, 100), HEADS)
    with pytest.raises(ModelError, match="'resnet1d': depth 19"):
        MODELS.get("resnet1d")((12, 1000), HEADS, depth=19)


def test_contract_is_loggable():
    params = dict(MODELS.get("resnet2d")((3, 64, 96), HEADS, depth=18, width=0.25).input_contract)
    assert params == {"input_kind": "image", "input_shape": "3x64x96", "input_mean": "0.485,0.456,0.406",
                      "input_std": "0.229,0.224,0.225", "pretrained": False, "weights": "none",
                      "pretrained_source": "none"}


#: CPU-sized settings for the checks that do not need the defaults.
SMALL = {"sequence": (12, 1000), "image": (3, 64, 64), "vector": (28,)}
SMALL_PARAMS = {"resnet2d": {"depth": 18, "width": 0.25}, "resnet1d": {"depth": 18, "width": 0.25},
                "cnn1d": {"pool": 2}}


@pytest.mark.parametrize("name,kind", list(_cases()))
def test_mixed_precision_forward_backward(name: str, kind: str):
    """Under autocast (bfloat16 on CPU; the harness uses float16 AMP on CUDA) outputs stay finite, grads flow."""
    torch.manual_seed(0)
    model = MODELS.get(name)(SMALL[kind], HEADS, **SMALL_PARAMS.get(name, {}))
    x = torch.rand(2, *SMALL[kind])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert all(torch.isfinite(o.float()).all() for o in out.values())
    sum(o.float().sum() for o in out.values()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
