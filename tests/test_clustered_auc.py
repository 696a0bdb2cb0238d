"""Obuchowski's patient-clustered AUROC test: DeLong's with one ECG per patient; with 1-4 ECGs per patient its
standard error matches the patient bootstrap's while DeLong's is too small."""
from __future__ import annotations

import numpy as np
import pytest

from bench.base.bootstrap import bootstrap_indices, delong_test, resample_weights
from bench.base.metrics import MetricCall
from bench.base.metrics.clustered_auc import clustered_auc_se, clustered_auc_test


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _cohort(rng, n_patients: int, ecgs=(1, 4)):
    """Patients with a latent severity; each ECG's label drawn from it (so a patient's ECGs share most of their
    label and score), two model scores that read the latent with their own patient- and ECG-level noise."""
    rows = []
    for p in range(n_patients):
        latent = rng.normal()
        bias_a, bias_b = rng.normal(0, 0.8), rng.normal(0, 0.8)  # each model's patient-level error
        for _ in range(rng.integers(ecgs[0], ecgs[1] + 1)):
            y = int(rng.random() < _sigmoid(3 * latent - 1))
            rows.append((p, y, latent + bias_a + rng.normal(0, 0.3), 0.6 * latent + bias_b + rng.normal(0, 0.3)))
    pid, y, a, b = map(np.asarray, zip(*rows))
    return pid, y, a, b


def test_one_ecg_per_patient_is_delong():
    rng = np.random.default_rng(3)
    pid, y, a, b = _cohort(rng, 150, ecgs=(1, 1))
    a = np.round(a, 1)  # ties: DeLong's mid-ranks must be handled alike
    ours = clustered_auc_test(y, a, b, pid)
    diff, se, p = delong_test(y, a, b)
    assert ours.diff == pytest.approx(diff, abs=1e-10)
    assert ours.se == pytest.approx(se, abs=1e-10)
    assert ours.p == pytest.approx(p, abs=1e-10)
    from sklearn.metrics import roc_auc_score

    assert ours.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)


def test_clustered_se_matches_the_patient_bootstrap_and_delong_understates_it():
    rng = np.random.default_rng(11)
    pid, y, a, b = _cohort(rng, 400)
    draws = bootstrap_indices(pid, 2000, seed=5)
    w = resample_weights(pid, draws)
    auc_a = MetricCall("a", "auroc", (y, a)).over_resamples(w)
    auc_b = MetricCall("b", "auroc", (y, b)).over_resamples(w)
    boot_se_diff, boot_se_a = np.std(auc_a - auc_b, ddof=1), np.std(auc_a, ddof=1)

    ours = clustered_auc_test(y, a, b, pid)
    delong_se = delong_test(y, a, b)[1]
    assert ours.se == pytest.approx(boot_se_diff, rel=0.2)
    assert delong_se < 0.9 * boot_se_diff and delong_se < 0.9 * ours.se  # ~0.8 here
    assert clustered_auc_se(y, a, pid) == pytest.approx(boot_se_a, rel=0.2)
    assert delong_test(y, a, a + 0 * b)[1] == 0.0  # the same score twice: no variance, the test agrees
    assert clustered_auc_test(y, a, a, pid).se == 0.0


def test_independent_ecgs_given_different_patient_ids_change_nothing_but_shared_ones_do():
    """Renaming patients does not change the test; merging two patients' ECGs into one cluster does."""
    rng = np.random.default_rng(2)
    pid, y, a, b = _cohort(rng, 120)
    base = clustered_auc_test(y, a, b, pid)
    renamed = clustered_auc_test(y, a, b, np.array([f"x{p * 7 % 1000}" for p in pid]))
    assert renamed.se == pytest.approx(base.se, rel=1e-12)
    assert clustered_auc_test(y, a, b, pid // 4).se != pytest.approx(base.se, rel=1e-3)


def test_too_few_patients_in_a_class_is_nan():
    y = np.array([1, 1, 0, 0])
    r = clustered_auc_test(y, [0.9, 0.8, 0.1, 0.2], [0.5, 0.6, 0.4, 0.3], ["p", "p", "q", "r"])
    assert np.isnan(r.se) and np.isnan(r.p)
