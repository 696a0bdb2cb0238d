"""Discrimination metrics for binary and multi-class scores (weighted, NaN when undefined).

AUROC is the weighted Mann-Whitney statistic (ties count one half), written out because scikit-learn's
`roc_auc_score` raises on one-class inputs and spends most of its time validating inputs, which matters when the
bootstrap calls it hundreds of times; it is tested against scikit-learn. The rest wraps scikit-learn. Each metric's
batch form (whole bootstrap weight matrix at once) sits just above it: rank metrics through the compiled kernels
of `_rank_kernels`, means as one matrix product.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_curve

from bench.base.metrics import _rank_kernels as R
from bench.base.metrics import as_weights, register_metric, weighted_mean, weighted_means
from bench.base.threads import over_row_blocks

NAN = float("nan")


def _binary(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float, float]:
    pos = np.asarray(y) == 1
    return pos, float(w[pos].sum()), float(w[~pos].sum())


def _auroc_batch(y, score, *, weights):
    order, group, n_groups = R.tie_groups(score)
    return over_row_blocks(R.auroc_rows, weights, np.asarray(y) == 1, order, group, n_groups)


@register_metric("auroc", higher_is_better=True, batch=_auroc_batch)
def auroc(y: np.ndarray, score: np.ndarray, *, sample_weight=None) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties counted 1/2."""
    s = np.asarray(score, dtype=float)
    w = as_weights(sample_weight, len(s))
    pos, n_pos, n_neg = _binary(y, w)
    if n_pos == 0 or n_neg == 0:
        return NAN
    uniq, inv = np.unique(s, return_inverse=True)
    wp = np.bincount(inv, weights=w * pos, minlength=len(uniq))
    wn = np.bincount(inv, weights=w * ~pos, minlength=len(uniq))
    below = np.cumsum(wn) - wn
    return float(np.dot(wp, below + 0.5 * wn) / (n_pos * n_neg))


def _auprc_batch(y, score, *, weights):
    order, group, n_groups = R.tie_groups(score, descending=True)
    return over_row_blocks(R.average_precision_rows, weights, np.asarray(y) == 1, order, group, n_groups)


@register_metric("auprc", higher_is_better=True, batch=_auprc_batch)
def auprc(y: np.ndarray, score: np.ndarray, *, sample_weight=None) -> float:
    """Average precision (step-wise area under the precision-recall curve, scikit-learn's definition)."""
    w = as_weights(sample_weight, len(score))
    _, n_pos, n_neg = _binary(y, w)
    if n_pos == 0 or n_neg == 0:
        return NAN
    return float(average_precision_score(np.asarray(y) == 1, score, sample_weight=w))


def _accuracy_batch(y, score, *, weights, threshold: float = 0.5):
    return weighted_means(((np.asarray(score) >= threshold) == (np.asarray(y) == 1)).astype(float), weights)


@register_metric("accuracy", higher_is_better=True, batch=_accuracy_batch)
def accuracy(y: np.ndarray, score: np.ndarray, *, sample_weight=None, threshold: float = 0.5) -> float:
    """Share of rows with (score >= threshold) == y."""
    w = as_weights(sample_weight, len(score))
    return weighted_mean(((np.asarray(score) >= threshold) == (np.asarray(y) == 1)).astype(float), w)


def _sens_at_spec_batch(y, score, *, weights, specificity: float = 0.9):
    order, group, n_groups = R.tie_groups(score, descending=True)
    max_fpr = 1.0 - specificity + 1e-12
    return over_row_blocks(R.sens_at_spec_rows, weights, np.asarray(y) == 1, order, group, n_groups, max_fpr)


@register_metric("sens_at_spec", higher_is_better=True, batch=_sens_at_spec_batch)
def sens_at_spec(y: np.ndarray, score: np.ndarray, *, sample_weight=None, specificity: float = 0.9) -> float:
    """Highest sensitivity among thresholds whose specificity is at least `specificity`."""
    w = as_weights(sample_weight, len(score))
    _, n_pos, n_neg = _binary(y, w)
    if n_pos == 0 or n_neg == 0:
        return NAN
    fpr, tpr, _ = roc_curve(np.asarray(y) == 1, score, sample_weight=w, drop_intermediate=False)
    ok = fpr <= 1.0 - specificity + 1e-12
    return float(tpr[ok].max())


def _mae_batch(y, pred, *, weights):
    return weighted_means(np.abs(np.asarray(pred, float) - np.asarray(y, float)), weights)


@register_metric("mae", higher_is_better=False, batch=_mae_batch)
def mae(y: np.ndarray, pred: np.ndarray, *, sample_weight=None) -> float:
    """Mean absolute error (e.g. age in years)."""
    w = as_weights(sample_weight, len(pred))
    return weighted_mean(np.abs(np.asarray(pred, float) - np.asarray(y, float)), w)


def _macro_auroc_batch(y, proba, *, weights):
    proba, y = np.asarray(proba, dtype=float), np.asarray(y)
    per_class = np.array([_auroc_batch((y == k).astype(int), proba[:, k], weights=weights)
                          for k in range(proba.shape[1])])
    counted = np.isfinite(per_class)
    with np.errstate(invalid="ignore"):
        return np.where(counted, per_class, 0.0).sum(axis=0) / counted.sum(axis=0)


@register_metric("macro_auroc", higher_is_better=True, batch=_macro_auroc_batch)
def macro_auroc(y: np.ndarray, proba: np.ndarray, *, sample_weight=None) -> float:
    """Mean one-vs-rest AUROC over the classes (columns of `proba`) that have both positives and negatives here.

    A class absent from a small test set is skipped rather than failing the whole metric; NaN when no class has
    both.
    """
    proba = np.asarray(proba, dtype=float)
    w = as_weights(sample_weight, len(proba))
    y = np.asarray(y)
    vals = [auroc((y == k).astype(int), proba[:, k], sample_weight=w) for k in range(proba.shape[1])]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else NAN


def _multilabel_macro_auroc_batch(y, proba, *, weights):
    proba, y = np.asarray(proba, dtype=float), np.asarray(y)
    per_label = np.array([_auroc_batch(y[:, k], proba[:, k], weights=weights) for k in range(proba.shape[1])])
    counted = np.isfinite(per_label)
    with np.errstate(invalid="ignore"):
        return np.where(counted, per_label, 0.0).sum(axis=0) / counted.sum(axis=0)


@register_metric("multilabel_macro_auroc", higher_is_better=True, batch=_multilabel_macro_auroc_batch)
def multilabel_macro_auroc(y: np.ndarray, proba: np.ndarray, *, sample_weight=None) -> float:
    """Mean AUROC over the labels (columns of the 0/1 matrix `y` and of `proba`) that have both positives and
    negatives here (multi-label, e.g. PTB-XL superclasses); NaN when none has both."""
    y, proba = np.asarray(y), np.asarray(proba, dtype=float)
    w = as_weights(sample_weight, len(proba))
    vals = [auroc(y[:, k], proba[:, k], sample_weight=w) for k in range(proba.shape[1])]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else NAN


def _balanced_accuracy_batch(y, proba, *, weights):
    """Per class k: weight of rows of class k, and of those predicted k; recall averaged over classes present."""
    y, pred = np.asarray(y), np.asarray(proba, dtype=float).argmax(1)
    labels = np.union1d(y, pred)
    truth = (y[:, None] == labels[None, :]).astype(float)
    present = weights @ truth
    hit = weights @ (truth * (pred[:, None] == labels[None, :]))
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present > 0, hit / present, 0.0)
        return recall.sum(axis=1) / (present > 0).sum(axis=1)


@register_metric("balanced_accuracy", higher_is_better=True, batch=_balanced_accuracy_batch)
def balanced_accuracy(y: np.ndarray, proba: np.ndarray, *, sample_weight=None) -> float:
    """Mean per-class recall of the arg-max class, over the classes present in `y`."""
    proba = np.asarray(proba, dtype=float)
    if len(proba) == 0:
        return NAN
    w = as_weights(sample_weight, len(proba))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true" is expected on small sets
        return float(balanced_accuracy_score(np.asarray(y), proba.argmax(1), sample_weight=w))


def _multiclass_accuracy_batch(y, proba, *, weights):
    return weighted_means((np.asarray(proba, dtype=float).argmax(1) == np.asarray(y)).astype(float), weights)


@register_metric("multiclass_accuracy", higher_is_better=True, batch=_multiclass_accuracy_batch)
def multiclass_accuracy(y: np.ndarray, proba: np.ndarray, *, sample_weight=None) -> float:
    """Share of rows whose arg-max class is the true class."""
    proba = np.asarray(proba, dtype=float)
    w = as_weights(sample_weight, len(proba))
    return weighted_mean((proba.argmax(1) == np.asarray(y)).astype(float), w)


def confusion_table(y: np.ndarray, proba: np.ndarray, labels: tuple[str, ...]) -> pd.DataFrame:
    """Counts of true class (rows) x arg-max predicted class (columns), labelled; an artifact, not a metric."""
    k = len(labels)
    y = np.asarray(y, dtype=int)
    pred = np.asarray(proba).argmax(1)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, pred), 1)
    frame = pd.DataFrame(cm, index=pd.Index(labels, name="true"), columns=[f"pred_{c}" for c in labels])
    return frame.reset_index()
