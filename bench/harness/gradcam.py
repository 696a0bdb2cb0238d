"""Grad-CAM (Selvaraju et al. 2017) for the suite's 1D and 2D models, and the PNG figures of a run's maps.

The map of a layer with activations A (channels x positions) for a target score y is ReLU(sum_k w_k A_k) with
w_k = mean over positions of dy/dA_k, upsampled to the input's time axis (1D) or H x W (2D) and scaled to 0..1 per
ECG. The layer is the one the model declares (`model.gradcam_layer`, a dotted module name), else the last
convolution the forward pass runs. Hand-written: it is a few lines of autograd, and the common package
(pytorch-grad-cam) targets 2D images and depends on OpenCV.

The maps are made outside the cell, where their cost does not count as the cell's overhead: a cell stores its first
`[eval] gradcam_ecgs` test ECGs (`gradcam/ecgs.npz`, standardised signals and ids: `store_gradcam_ecgs`) beside its
logged model, and the report (`log_run_gradcam`) runs them through the stored representation and network, then
logs the PNGs under the run's `gradcam/` folder, once.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.base.errors import ModelError
from bench.base.signal import FS, STANDARD_LEADS

_CONV = (nn.Conv1d, nn.Conv2d)
ARTIFACT_DIR = "gradcam"
ECGS = "ecgs.npz"


def find_gradcam_layer(model: nn.Module, x: torch.Tensor | None = None, layer: str | nn.Module | None = None
                       ) -> nn.Module:
    """The layer to explain: `layer` if given (module or dotted name), else `model.gradcam_layer`, else the last
    Conv1d/Conv2d executed on `x` (or, without `x`, the last one registered)."""
    chosen = layer if layer is not None else getattr(model, "gradcam_layer", None)
    if isinstance(chosen, nn.Module):
        return chosen
    if isinstance(chosen, str):
        try:
            return model.get_submodule(chosen)
        except AttributeError as e:
            raise ModelError(f"{type(model).__name__}: no layer {chosen!r} for Grad-CAM") from e
    convs = [m for m in model.modules() if isinstance(m, _CONV)]
    if not convs:
        raise ModelError(f"{type(model).__name__}: no Conv1d/Conv2d layer for Grad-CAM")
    if x is None:
        return convs[-1]
    order: list[nn.Module] = []
    handles = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in convs]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return order[-1]


def _targets(out: torch.Tensor, target_index) -> torch.Tensor:
    n, units = out.shape
    if target_index is None:
        return torch.zeros(n, dtype=torch.long, device=out.device) if units == 1 else out.argmax(1)
    idx = torch.as_tensor(target_index, dtype=torch.long, device=out.device)
    return idx.expand(n) if idx.ndim == 0 else idx


def gradcam(model: nn.Module, x, head: str, target_index=None, layer: str | nn.Module | None = None) -> np.ndarray:
    """Grad-CAM maps of `head`'s output unit `target_index` for a batch `x` (n, C, T) or (n, 3, H, W).

    `target_index`: None (unit 0 of a one-unit head, else each ECG's top unit), an int, one per ECG, or a function
    of the head's (n, units) output returning one score per ECG (e.g. `lambda o: -o.sum(1)`: evidence against
    survival across all intervals of a survival head).
    Returns float32 maps (n, T) or (n, H, W) in 0..1 (all zero where the layer has no positive evidence).
    The model is run in eval mode and its mode restored; parameter gradients are left untouched.
    """
    param = next(model.parameters())
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32).to(param.device)
    was_training = model.training
    model.eval()  # before any forward pass, so BatchNorm statistics are never updated here
    captured: dict[str, torch.Tensor] = {}
    handle = None
    try:
        target_layer = find_gradcam_layer(model, x, layer)
        handle = target_layer.register_forward_hook(lambda m, i, o: captured.__setitem__("a", o))
        with torch.enable_grad():
            out = model(x.detach().clone().requires_grad_(True))[head].float()
            if "a" not in captured:
                raise ModelError(f"{type(model).__name__}: Grad-CAM layer {type(target_layer).__name__} "
                                 "did not run in the forward pass")
            if callable(target_index):
                score = target_index(out).sum()
            else:
                score = out.gather(1, _targets(out, target_index).view(-1, 1)).sum()
            acts = captured["a"]
            (grads,) = torch.autograd.grad(score, acts)
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)
    acts, grads = acts.detach().float(), grads.detach().float()
    spatial = tuple(range(2, acts.ndim))
    cam = F.relu((grads.mean(dim=spatial, keepdim=True) * acts).sum(1, keepdim=True))
    if cam.ndim == 3:
        cam = F.interpolate(cam, size=x.shape[-1], mode="linear", align_corners=False)
    else:
        cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    cam = cam[:, 0]
    peak = cam.flatten(1).amax(1).clamp_min(1e-12).view(-1, *([1] * (cam.ndim - 1)))
    return (cam / peak).cpu().numpy().astype(np.float32)


def _safe(name) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "ecg"


def save_gradcam_figures(model: nn.Module, inputs, ids: Sequence, head: str, out_dir, kind: str, *,
                         target_index=None, layer=None, fs: float = FS,
                         leads: Sequence[str] = STANDARD_LEADS) -> list[Path]:
    """Write one PNG per ECG: for `kind="sequence"` each lead's trace over its Grad-CAM map as a colour band, for
    `kind="image"` the image with the heat map overlaid. `inputs` are model inputs (n, ...); uint8 images are
    scaled to 0..1 first, as the loader does. Returns the paths written (`gradcam_<head>_<id>.png`)."""
    from matplotlib.figure import Figure

    if kind not in ("sequence", "image"):
        raise ValueError(f"Grad-CAM figures: kind must be 'sequence' or 'image', not {kind!r}")
    arr = inputs.detach().cpu().numpy() if torch.is_tensor(inputs) else np.asarray(inputs)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if len(ids) != len(arr):
        raise ValueError(f"Grad-CAM figures: {len(ids)} ids for {len(arr)} inputs")
    maps = gradcam(model, arr, head, target_index=target_index, layer=layer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ecg_id, sig, cam in zip(ids, arr, maps):
        if kind == "sequence":
            fig = _sequence_figure(Figure, sig, cam, fs, leads)
        else:
            fig = _image_figure(Figure, sig, cam)
        fig.suptitle(f"Grad-CAM {head} - {ecg_id}", fontsize=10)
        path = out / f"gradcam_{_safe(head)}_{_safe(ecg_id)}.png"
        fig.savefig(path, dpi=80)
        paths.append(path)
    return paths


def _sequence_figure(Figure, sig: np.ndarray, cam: np.ndarray, fs: float, leads: Sequence[str]):
    n_leads, n = sig.shape
    t_end = n / fs
    fig = Figure(figsize=(10, 1.0 + 0.8 * n_leads), layout="constrained")
    axes = fig.subplots(n_leads, 1, sharex=True, squeeze=False)[:, 0]
    for i, ax in enumerate(axes):
        lo, hi = float(sig[i].min()), float(sig[i].max())
        pad = 0.1 * (hi - lo) or 0.5
        ax.imshow(cam[None, :], aspect="auto", cmap="jet", alpha=0.45, vmin=0, vmax=1,
                  extent=(0, t_end, lo - pad, hi + pad), origin="lower", interpolation="nearest")
        ax.plot(np.arange(n) / fs, sig[i], color="black", linewidth=0.6)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_yticks([])
        ax.set_ylabel(leads[i] if i < len(leads) else str(i), rotation=0, labelpad=14, fontsize=8)
    axes[-1].set_xlabel("time (s)")
    return fig


def _image_figure(Figure, img: np.ndarray, cam: np.ndarray):
    h, w = img.shape[1:]
    fig = Figure(figsize=(max(4.0, 8.0 * w / max(h, w)), max(3.0, 8.0 * h / max(h, w))), layout="constrained")
    ax = fig.subplots()
    ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1), interpolation="nearest")
    ax.imshow(cam, cmap="jet", alpha=0.4, vmin=0, vmax=1, interpolation="bilinear")
    ax.set_axis_off()
    return fig


def store_gradcam_ecgs(path: Path, ecg_ids: Sequence, signals: np.ndarray) -> Path:
    """Write the ECGs to explain later (`ECGS`: `ecg_ids` as text, `signals` (n, 12, T) float32 mV standardised, the
    stored model's input) to the file `path`; returns it."""
    np.savez(path, ecg_ids=np.asarray([str(i) for i in ecg_ids]), signals=np.asarray(signals, dtype=np.float32))
    return path


def stored_gradcam_inputs(client, run_id: str, tmp: Path):
    """What a finished run stored for Grad-CAM: (its logged pyfunc model unwrapped, `BenchModel`; the ECG ids; their
    model inputs, the stored ECGs through the stored fitted representation). TrackedModelError, saying which,
    when the run stored no ECGs or no model."""
    from bench.base.errors import TrackedModelError
    from bench.harness.model_store import load_run_model

    if f"{ARTIFACT_DIR}/{ECGS}" not in {a.path for a in client.list_artifacts(run_id, ARTIFACT_DIR)}:
        raise TrackedModelError(f"run {run_id}: no Grad-CAM ECGs stored (its grid had [eval] gradcam_ecgs = 0, or "
                                "its representation gives feature vectors)")
    stored_model = load_run_model(client, run_id).unwrap_python_model()
    with np.load(client.download_artifacts(run_id, f"{ARTIFACT_DIR}/{ECGS}", str(tmp))) as ecgs:
        ids, signals = ecgs["ecg_ids"].tolist(), ecgs["signals"]
    return stored_model, ids, np.asarray(stored_model.representation.transform(signals))


def log_run_gradcam(client, run_id: str) -> list[str]:
    """Grad-CAM PNGs of a finished run, made on the CPU from what the cell stored (`stored_gradcam_inputs`) and
    logged under the run's `gradcam/` folder. Returns their artifact paths."""
    with tempfile.TemporaryDirectory(prefix="bench-gradcam-") as tmp:
        stored_model, ids, x = stored_gradcam_inputs(client, run_id, Path(tmp))
        head, target = stored_model.task.gradcam_target()
        paths = save_gradcam_figures(stored_model.network.cpu(), x, ids, head, Path(tmp) / ARTIFACT_DIR,
                                     stored_model.representation.kind, target_index=target)
        for p in paths:
            client.log_artifact(run_id, str(p), ARTIFACT_DIR)
    return [f"{ARTIFACT_DIR}/{p.name}" for p in paths]
