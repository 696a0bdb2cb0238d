"""The training loop and its loader, on a small simulated cohort (CPU: batches read in the training thread; on CUDA
the same reads run on a prefetch thread into pinned memory, with autocast switched on)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from bench.base.cohort import load_cohort
from bench.harness.cache import build_features
from bench.harness.loader import prefetch_batches, read_rows, sequential_batches
from bench.harness.splits import patient_split
from bench.harness.train import _channels_last, as_input, autocast_dtype, predict_outputs, train_model
from models import MODELS
from representations import REPRESENTATIONS
from tasks import TASKS


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return load_cohort("synthetic:60,seed=1", cache_dir=str(cache)), str(cache)


def _features(cohort, name: str, **params) -> np.ndarray:
    c, cache = cohort
    return build_features(REPRESENTATIONS.get(name)(**params), c, np.arange(len(c.records)), cache)


def _mi_setup(cohort):
    c, _ = cohort
    task = TASKS.get("mi")()
    records = c.records.reset_index(drop=True)
    split = patient_split(records, val=0.25, test=0.2, seed=0)
    targets = task.encode(records)
    part = {k: {t: np.asarray(v)[getattr(split, k)] for t, v in targets.items()} for k in ("train", "val")}
    return task, records, split, part


def _train(cohort, features, model, **cfg):
    task, records, split, part = _mi_setup(cohort)
    cfg = {"epochs": 2, "batch_size": 16, "lr": 1e-3, "patience": 0, **cfg}
    parts = split.parts(records, np.arange(len(records)), task.encode(records))  # features hold every cohort row
    return train_model(model, task, features, parts["train"], parts["val"], cfg=cfg, device=torch.device("cpu"),
                       seed=3)


@pytest.mark.parametrize("rep,params", [("raw", {}), ("image", {"width": 64})])
def test_prefetched_batches_equal_direct_reads_in_order(cohort, rep, params):
    features = _features(cohort, rep, **params)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(features))
    target = {"y": rng.normal(size=len(rows))}
    batches = sequential_batches(len(rows), 7)
    seen = []
    for pos, x, y in prefetch_batches(features, rows, batches, torch.device("cpu"), target):
        assert x.dtype == torch.float32
        torch.testing.assert_close(x, as_input(features[rows[pos]], torch.device("cpu")), rtol=0, atol=0)
        np.testing.assert_array_equal(y["y"].numpy(), target["y"][pos].astype(np.float32))
        seen.append(pos)
    np.testing.assert_array_equal(np.concatenate(seen), np.arange(len(rows)))
    if rep == "image":
        assert float(x.max()) <= 1.0 and float(x.min()) >= 0.0  # uint8 pixels scaled to 0..1


def test_loader_raises_reader_errors_and_stops_when_left_early(cohort):
    features = _features(cohort, "raw")
    before = threading.active_count()
    bad_rows = np.array([0, 1, len(features) + 5])  # out of range: the reader fails on the second batch
    with pytest.raises(IndexError):
        for _ in prefetch_batches(features, bad_rows, [np.array([0, 1]), np.array([2])], torch.device("cpu")):
            pass
    gen = prefetch_batches(features, np.arange(len(features)), sequential_batches(len(features), 2),
                           torch.device("cpu"))
    next(gen)
    gen.close()  # the consumer leaves after one batch: no reader thread may linger
    assert threading.active_count() == before


def test_read_rows_restores_requested_order(cohort):
    features = _features(cohort, "raw")
    rows = np.array([5, 1, 9, 1, 0])
    np.testing.assert_array_equal(read_rows(features, rows), np.asarray(features)[rows])


def test_predictions_do_not_depend_on_batch_size_or_order(cohort):
    features = _features(cohort, "raw")
    torch.manual_seed(0)
    model = MODELS.get("cnn1d")(features.shape[1:], dict(TASKS.get("mi")().heads)).eval()
    rows = np.arange(len(features))[::-3]
    a = predict_outputs(model, features, rows, torch.device("cpu"), 4)
    b = predict_outputs(model, features, rows, torch.device("cpu"), 64)
    with torch.no_grad():
        direct = model(as_input(features[rows], torch.device("cpu")))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a[k], direct[k].numpy(), rtol=1e-4, atol=1e-5)


def test_training_is_reproducible_and_keeps_the_best_epoch(cohort):
    features = _features(cohort, "raw")
    task = TASKS.get("mi")()
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = MODELS.get("cnn1d")(features.shape[1:], dict(task.heads))
        res = _train(cohort, features, model, epochs=3)
        runs.append((res, model))
    (r1, m1), (r2, m2) = runs
    assert [h["train/loss"] for h in r1.history] == [h["train/loss"] for h in r2.history]
    assert [h["val/loss"] for h in r1.history] == [h["val/loss"] for h in r2.history]
    assert len(r1.history) == 3 and 0 <= r1.best_epoch < 3
    assert {"train/loss", "val/loss", "train/lr", "val/auroc"} <= set(r1.history[0])
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p1, p2, rtol=0, atol=0)


def test_patience_zero_runs_every_epoch_and_returns_the_best_one(cohort):
    """The PVC protocol (full grid): no early stopping, and the model handed back is the best validation epoch's."""
    from bench.harness.train import _validate

    features = _features(cohort, "raw")
    task, records, split, _ = _mi_setup(cohort)
    torch.manual_seed(2)
    model = MODELS.get("cnn1d")(features.shape[1:], dict(task.heads))
    res = _train(cohort, features, model, epochs=4, lr=3e-3)
    assert len(res.history) == 4 and not res.stopped_early
    aurocs = [h["val/auroc"] for h in res.history]
    assert res.best_epoch == int(np.argmax(aurocs)) and res.best_val == max(aurocs)
    val = split.parts(records, np.arange(len(records)), task.encode(records))["val"]
    _, again = _validate(model, task, features, val.rows, val.records, val.targets, torch.device("cpu"), 64, None,
                         False)
    assert again == pytest.approx(res.best_val, abs=1e-6)


def test_non_finite_loss_names_epoch_and_batch(cohort):
    features = np.array(_features(cohort, "raw"))
    features[:] = np.nan  # every ECG unreadable as numbers: the first batch's loss is NaN
    model = MODELS.get("cnn1d")(features.shape[1:], dict(TASKS.get("mi")().heads))
    with pytest.raises(FloatingPointError, match=r"at epoch 0, batch 0"):
        _train(cohort, features, model)


def test_channels_last_image_model_trains_like_contiguous(cohort):
    features = _features(cohort, "image", width=64)
    task = TASKS.get("mi")()
    histories = []
    for channels_last in (False, True):
        torch.manual_seed(2)
        model = MODELS.get("resnet2d")(features.shape[1:], dict(task.heads), depth=18, width=0.25)
        res = _train(cohort, features, model, epochs=1, channels_last=channels_last)
        assert _channels_last(model) is channels_last
        histories.append(res.history[0])
    for k in ("train/loss", "val/loss"):
        assert histories[1][k] == pytest.approx(histories[0][k], rel=1e-3)


def test_no_mixed_precision_on_cpu():
    assert autocast_dtype(torch.device("cpu"), amp=True) is None
    assert autocast_dtype(torch.device("cuda"), amp=False) is None
