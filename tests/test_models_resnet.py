"""ResNet family: local ImageNet-style weights load through timm's file path (a saved state dict round-trips),
random init otherwise, loud failures for files that do not fit, no download without permission, normalisation
inside the module, and the 1D twin has the 2D layout."""
from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

import models.resnet2d as resnet2d
from bench.base.errors import ModelError
from models import MODELS
from models._contract import IMAGENET_MEAN, IMAGENET_STD

SHAPE = (3, 64, 64)
HEADS = {"mi": 1, "territory": 6}


def _imagenet_like_file(tmp_path, arch: str = "resnet18", suffix: str = ".pth", seed: int = 7):
    """A full timm classifier's state dict (with its 1000-class `fc`), saved as an ImageNet checkpoint would be."""
    torch.manual_seed(seed)
    ref = timm.create_model(arch)
    path = tmp_path / f"{arch}_in1k{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(ref.state_dict(), str(path))
    else:
        torch.save(ref.state_dict(), path)
    return ref, path


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_file_round_trips(tmp_path, suffix):
    ref, path = _imagenet_like_file(tmp_path, suffix=suffix)
    torch.manual_seed(0)
    model = MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=str(path))
    body = model.backbone.body.state_dict()
    expected = {k: v for k, v in ref.state_dict().items() if not k.startswith("fc.")}
    assert set(body) == set(expected)
    for k, v in expected.items():
        torch.testing.assert_close(body[k], v, rtol=0, atol=0, msg=k)
    assert model.input_contract.pretrained is True
    assert dict(model.input_contract)["pretrained"] is True and dict(model.input_contract)["weights"] == str(path)
    assert dict(model.input_contract)["pretrained_source"] == "file"
    assert model(torch.rand(2, *SHAPE))["territory"].shape == (2, 6)


def test_random_init_without_weights(tmp_path):
    ref, _ = _imagenet_like_file(tmp_path)
    for off in (None, False, "false", ""):
        model = MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=off)
        assert model.input_contract.pretrained is False and model.input_contract.weights is None
    w = model.backbone.body.conv1.weight
    assert not torch.equal(w, ref.conv1.weight)


def test_file_of_another_depth_is_refused(tmp_path):
    _, deeper = _imagenet_like_file(tmp_path, arch="resnet34")  # holds every ResNet-18 tensor, and more
    with pytest.raises(ModelError, match="do not fit"):
        MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=str(deeper))
    _, shallower = _imagenet_like_file(tmp_path, arch="resnet18")
    with pytest.raises(ModelError, match="resnet18_in1k"):
        MODELS.get("resnet2d")(SHAPE, HEADS, depth=34, pretrained=str(shallower))


def test_missing_file_and_narrow_pretrained_are_refused(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=str(tmp_path / "absent.pth"))
    _, path = _imagenet_like_file(tmp_path)
    with pytest.raises(ModelError, match="width 1.0"):
        MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, width=0.5, pretrained=str(path))
    with pytest.raises(ModelError, match="depth 20"):
        MODELS.get("resnet2d")(SHAPE, HEADS, depth=20)


def test_absent_weights_fail_or_are_reported(tmp_path, monkeypatch):
    """Absent weights fail the build by default; with if_absent="scratch" one warning line, random init, and a
    contract that says so (the run logs it as model_contract.pretrained_source = absent)."""
    absent = tmp_path / "resnet18_in1k.pth"
    with pytest.raises(ModelError, match="resnet18_in1k.pth: pretrained weights file not found"):
        MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=str(absent))
    with pytest.warns(UserWarning, match="not found; training from scratch") as caught:
        model = MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=str(absent), if_absent="scratch")
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    params = dict(model.input_contract)
    assert params["pretrained"] is False and params["pretrained_source"] == "absent"
    assert params["weights"] == f"absent:{absent}"
    monkeypatch.setattr(resnet2d, "cached_timm_weights", lambda name: (None, f"timm:timm/{name}.x"))
    with pytest.warns(UserWarning, match="timm:timm/resnet18.x is not in timm's local cache"):
        model = MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=True, if_absent="scratch")
    assert model.input_contract.pretrained_source == "absent" and model.input_contract.pretrained is False
    with pytest.raises(ModelError, match="if_absent must be one of"):
        MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=True, if_absent="ignore")


def test_timm_cache_is_used_and_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setattr(resnet2d, "cached_timm_weights", lambda name: (None, f"timm:timm/{name}.x"))
    with pytest.raises(ModelError, match="allow_download"):
        MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=True)
    ref, path = _imagenet_like_file(tmp_path)
    monkeypatch.setattr(resnet2d, "cached_timm_weights", lambda name: (str(path), f"timm:timm/{name}.x"))
    model = MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, pretrained=True)
    assert model.input_contract.pretrained is True and model.input_contract.weights == "timm:timm/resnet18.x"
    assert model.input_contract.pretrained_source == "timm-cache"
    torch.testing.assert_close(model.backbone.body.conv1.weight, ref.conv1.weight, rtol=0, atol=0)


def test_cache_lookup_names_timm_default_weights():
    path, label = resnet2d.cached_timm_weights("resnet18")
    assert label.startswith("timm:") and "resnet18" in label
    assert path is None or path.endswith((".safetensors", ".bin", ".pth"))


def test_imagenet_normalisation_is_inside_the_model():
    model = MODELS.get("resnet2d")(SHAPE, HEADS, depth=18, width=0.25).eval()
    seen = {}
    model.backbone.body.conv1.register_forward_hook(lambda m, i, o: seen.__setitem__("x", i[0]))
    mean_image = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, *SHAPE)
    model(mean_image)
    torch.testing.assert_close(seen["x"], torch.zeros_like(seen["x"]), rtol=0, atol=1e-6)
    model(torch.ones(1, *SHAPE))
    expected = ((1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)).view(1, 3, 1, 1)
    torch.testing.assert_close(seen["x"], expected.expand_as(seen["x"]))
    assert model.input_contract.mean == IMAGENET_MEAN and model.input_contract.std == IMAGENET_STD


def _conv_widths(module: nn.Module, conv_type) -> list[tuple[int, int, int]]:
    return [(m.out_channels, m.stride[0], m.groups) for m in module.modules() if isinstance(m, conv_type)]


@pytest.mark.parametrize("depth,width", [(18, 0.25), (50, 0.25), (34, 1.0)])
def test_1d_twin_has_the_2d_layout(depth, width):
    two = MODELS.get("resnet2d")(SHAPE, HEADS, depth=depth, width=width)
    one = MODELS.get("resnet1d")((12, 2000), HEADS, depth=depth, width=width)
    assert _conv_widths(one.backbone, nn.Conv1d) == _conv_widths(two.backbone.body, nn.Conv2d)
    assert one.embed_dim == two.embed_dim


def test_gradcam_stage_follows_image_size():
    assert MODELS.get("resnet2d")((3, 224, 224), HEADS, depth=18).gradcam_layer == "backbone.body.layer4"
    assert MODELS.get("resnet2d")((3, 99, 128), HEADS, depth=18).gradcam_layer == "backbone.body.layer3"
    assert MODELS.get("resnet2d")((3, 64, 64), HEADS, depth=18, gradcam_stage=2).gradcam_layer == \
        "backbone.body.layer2"
    with pytest.raises(ModelError, match="gradcam_stage"):
        MODELS.get("resnet2d")((3, 64, 64), HEADS, depth=18, gradcam_stage=5)
