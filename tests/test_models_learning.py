"""Every registered model learns: on simulated 12-lead ECGs with a strong planted marker (low limb-lead voltage in
half the patients), each model, fed by the representation it is paired with in the grids, clearly beats chance on
held-out patients within a few epochs on CPU at CPU-sized settings."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from models import MODELS

pytestmark = pytest.mark.slow

#: model -> (representation, representation params, CPU-sized model params, epochs, Adam learning rate).
CPU_CASES = {
    "cnn1d": ("raw", {}, {"channels": (16, 16, 32, 32, 64), "convs_per_block": 1}, 2, 1e-3),
    "resnet1d": ("raw", {}, {"depth": 18, "width": 0.25}, 2, 1e-3),
    "dilated_resnet1d": ("raw", {}, {"width": 16, "stages": 2}, 2, 1e-3),
    "resnet2d": ("image", {"width": 128}, {"depth": 18, "width": 0.25}, 3, 3e-3),
    "mlp": ("dwt_pca", {}, {}, 10, 3e-3),  # an epoch is four steps of a 4.9k-parameter network
}
LIMB_LEADS = slice(0, 6)  # I, II, III, aVR, aVL, aVF


@pytest.fixture(scope="module")
def cohort():
    """Simulated ECGs; patients split 70/30, each side half marked (limb leads x 0.3, a low-voltage pattern)."""
    from bench.data.simulator import simulate

    records, signals, _ = simulate(45, seed=11)
    patients = records["patient_id"].astype(str).to_numpy()
    order = np.random.default_rng(0).permutation(np.unique(patients))
    n_test = len(order) * 3 // 10
    marked = {p for part in (order[:n_test], order[n_test:]) for p in part[::2]}
    y = np.array([p in marked for p in patients], dtype=np.float32)
    test = np.isin(patients, order[:n_test])
    signals = signals.copy()
    signals[y == 1, LIMB_LEADS] *= 0.3
    return signals, y, np.flatnonzero(~test), np.flatnonzero(test)


def test_every_model_has_a_learning_case():
    """A model added to the package must add its CPU-sized case here (test-registered models are ignored)."""
    assert {e.name for e in MODELS if e.obj.__module__.startswith("models.")} == set(CPU_CASES)


def _features(signals, train_rows, rep_name, rep_params) -> np.ndarray:
    from representations import REPRESENTATIONS

    rep = REPRESENTATIONS.get(rep_name)(**rep_params).fit(signals[train_rows])
    x = rep.transform(signals)
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


@pytest.mark.parametrize("name", sorted(CPU_CASES))
def test_model_learns_a_planted_marker(cohort, name):
    signals, y, train, test = cohort
    rep_name, rep_params, model_params, epochs, lr = CPU_CASES[name]
    x = torch.from_numpy(_features(signals, train, rep_name, rep_params))
    target = torch.from_numpy(y)
    torch.manual_seed(0)
    model = MODELS.get(name)(tuple(x.shape[1:]), {"marker": 1}, **model_params)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    rows = torch.from_numpy(train)
    for _ in range(epochs):
        model.train()
        for idx in rows[torch.randperm(len(rows), generator=g)].split(16):
            if len(idx) < 2:  # BatchNorm needs two ECGs
                continue
            logit = model(x[idx])["marker"][:, 0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        score = model(x[test])["marker"][:, 0].numpy()
    auroc = roc_auc_score(y[test], score)
    print(f"{name} on {rep_name}: test AUROC {auroc:.3f} ({len(train)} training ECGs, {len(test)} test)")
    assert auroc > 0.8, f"{name} on {rep_name}: test AUROC {auroc:.3f} after {epochs} epochs"
