"""Classification and calibration metrics against scikit-learn / scipy, on simulated LVEF and MI labels."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from bench.base.cohort import MI_TERRITORIES
from bench.base.metrics import METRICS, MetricCall, evaluate_calls
from bench.base.metrics import calibration as K
from bench.base.metrics import classification as C
from bench.data.simulator import simulate


@lru_cache(maxsize=1)
def cohort():
    records, _, oracle = simulate(250, 12)
    return records, oracle


def lvef_labels():
    records, oracle = cohort()
    keep = records["lvef"].notna().to_numpy()
    y = (records["lvef"].to_numpy()[keep] <= 40).astype(int)
    p = oracle["oracle_p_lvef"].to_numpy()[keep]
    rounded = np.round(p, 2)  # ties in the scores
    return y, p, rounded


def test_registry_declares_direction():
    assert METRICS.entry("auroc").info["higher_is_better"] is True
    assert METRICS.entry("brier").info["higher_is_better"] is False
    assert METRICS.entry("calib_slope").info["higher_is_better"] is None
    assert {"auroc", "auprc", "harrell_c", "uno_c", "ici", "ece", "macro_auroc"} <= set(METRICS.names())


def test_auroc_matches_sklearn_with_ties_and_weights():
    y, p, rounded = lvef_labels()
    assert y.sum() >= 5
    assert C.auroc(y, rounded) == pytest.approx(roc_auc_score(y, rounded), abs=1e-12)
    w = np.random.default_rng(0).integers(0, 4, len(y))
    assert C.auroc(y, rounded, sample_weight=w) == pytest.approx(roc_auc_score(y, rounded, sample_weight=w), abs=1e-12)
    assert C.auprc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_one_class_gives_nan_not_an_exception():
    y = np.zeros(5, int)
    s = np.linspace(0.1, 0.4, 5)
    for name in ("auroc", "auprc", "sens_at_spec", "calib_slope", "calib_intercept"):
        assert np.isnan(METRICS.get(name)(y, s)), name
    assert C.accuracy(y, s) == 1.0  # defined: every score < 0.5 is a correct negative


def test_sensitivity_at_specificity_hand_worked():
    y = np.array([0] * 10 + [1] * 4)
    s = np.array([0.1] * 9 + [0.8] + [0.9, 0.7, 0.3, 0.05])
    # specificity >= 0.9 allows one false positive (0.8): thresholds 0.9 (sens 1/4) and 0.8 (1/4); 0.7 keeps
    # spec 0.9 and reaches 2/4; 0.3 still one FP -> 3/4; 0.1 drops specificity.
    assert C.sens_at_spec(y, s, specificity=0.9) == pytest.approx(0.75)
    assert C.sens_at_spec(y, s, specificity=1.0) == pytest.approx(0.25)


def test_brier_and_ece_hand_worked():
    y, p, _ = lvef_labels()
    assert K.brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    y2 = np.array([0, 1, 1, 0])
    p2 = np.array([0.05, 0.15, 0.95, 0.85])  # bins 0, 1, 9, 8: |0.05-0|,|0.15-1|,|0.95-1|,|0.85-0|
    assert K.ece(y2, p2) == pytest.approx((0.05 + 0.85 + 0.05 + 0.85) / 4)


def test_calibration_slope_matches_sklearn_and_intercept_matches_scipy():
    y, p, _ = lvef_labels()
    logit = np.log(p / (1 - p))
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit[:, None], y)
    assert K.calib_slope(y, p) == pytest.approx(ref.coef_[0, 0], rel=1e-4)

    def nll(a):
        eta = a + logit
        return np.sum(np.logaddexp(0, eta) - y * eta)

    assert K.calib_intercept(y, p) == pytest.approx(minimize_scalar(nll).x, abs=1e-5)
    # over-confident predictions (logits doubled) have slope ~1/2; the most extreme doubled logits saturate in
    # float64 and are clipped by the metric, hence the looser tolerance
    sharp = 1 / (1 + np.exp(-2 * logit))
    assert K.calib_slope(y, sharp) == pytest.approx(ref.coef_[0, 0] / 2, rel=1e-3)


def test_macro_auroc_matches_sklearn_one_vs_rest():
    records, oracle = cohort()
    keep = (records["mi"] == 1).to_numpy()
    y = records["mi_territory"].map({t: i for i, t in enumerate(MI_TERRITORIES)}).to_numpy()[keep].astype(int)
    prob = oracle[[f"oracle_p_{t}" for t in MI_TERRITORIES]].to_numpy()[keep]
    prob = 0.7 * prob + 0.3 * np.random.default_rng(1).dirichlet(np.ones(6), len(prob))
    present = np.unique(y)
    if len(present) == 6:
        ref = roc_auc_score(y, prob, multi_class="ovr", average="macro")
    else:  # sklearn's ovr needs every class; compare on the present ones
        ref = np.mean([roc_auc_score(y == k, prob[:, k]) for k in present])
    assert C.macro_auroc(y, prob) == pytest.approx(ref, abs=1e-12)
    cm = C.confusion_table(y, prob, MI_TERRITORIES)
    assert cm.drop(columns="true").to_numpy().sum() == len(y)
    assert np.trace(cm.drop(columns="true").to_numpy()) / len(y) == pytest.approx(C.multiclass_accuracy(y, prob))


def test_mean_abs_diff_vs_oracle():
    risk = np.array([[0.2, 0.8], [0.5, 0.5]])
    true = np.array([[0.1, 0.9], [0.5, 0.5]])
    assert K.mean_abs_diff(risk, true) == pytest.approx(0.05)
    assert K.mean_abs_diff(risk[:, 0], true[:, 0], sample_weight=np.array([3, 1])) == pytest.approx(0.075)


def test_weighted_call_equals_resampled_rows():
    """The bootstrap's weights shortcut gives the same number as materialising the resample."""
    y, p, rounded = lvef_labels()
    w = np.random.default_rng(5).integers(0, 3, len(y))
    rows = np.repeat(np.arange(len(y)), w)
    for name in ("auroc", "auprc", "brier", "ece", "calib_slope", "calib_intercept", "sens_at_spec", "accuracy"):
        call = MetricCall(name, name, (y, rounded))
        weighted = evaluate_calls([call], w)[name]
        resampled = METRICS.get(name)(y[rows], rounded[rows])
        assert weighted == pytest.approx(resampled, rel=1e-6, abs=1e-9), name


def test_mae_and_balanced_accuracy_match_sklearn():
    from sklearn.metrics import balanced_accuracy_score, mean_absolute_error

    records, _ = cohort()
    age = records["age"].to_numpy(float)
    pred = age + np.random.default_rng(2).normal(0, 8, len(age))
    w = np.random.default_rng(3).integers(1, 4, len(age))
    assert C.mae(age, pred, sample_weight=w) == pytest.approx(mean_absolute_error(age, pred, sample_weight=w))
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    prob = np.eye(3)[[0, 1, 1, 1, 2, 0, 2]]
    assert C.balanced_accuracy(y, prob) == pytest.approx(balanced_accuracy_score(y, prob.argmax(1)))
    assert C.balanced_accuracy(y, prob) == pytest.approx((1 / 2 + 2 / 2 + 2 / 3) / 3)
