"""Is the ECG score an independent predictor? A multivariable model of the outcome on the ECG score (per SD) plus
the clinical covariates, on the test rows: hazard ratio (AF survival, Cox via lifelines) or odds ratio (binary
tasks) per SD of the score, with its 95 % Wald interval and p-value.

Intervals are robust to a patient's several ECGs (clustered by patient): lifelines' sandwich variance for Cox; for
the logistic model the sandwich is computed here from the Hessian, because statsmodels (which has it) is not a
dependency and scikit-learn's `LogisticRegression` gives no standard errors. Territories (multiclass) have no
single score to test, so none is reported.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError
from scipy.special import expit
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression

from bench.harness.clinical.design import (BINARY, SURVIVAL, available_covariates, binary_outcome, covariate_frame,
                                           ecg_features, outcome_kind, scaler, survival_outcome)

Z95 = float(norm.ppf(0.975))


def logistic_wald(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unpenalised logistic regression: (coefficients without the intercept, their cluster-robust standard errors).

    Sandwich V = H^-1 B H^-1 with H = X'WX (W = p(1 - p)) and B the sum over clusters of the outer products of
    the cluster's score X'(y - p); with one row per cluster this is White's heteroscedasticity-robust variance."""
    fit = LogisticRegression(C=np.inf, max_iter=5000).fit(x, y)  # unpenalised
    x1 = np.column_stack([np.ones(len(x)), x])
    beta = np.r_[fit.intercept_, fit.coef_[0]]
    p = expit(x1 @ beta)
    h_inv = np.linalg.pinv(x1.T @ (x1 * (p * (1 - p))[:, None]))  # singular under separation: checked below
    _, g = np.unique(groups, return_inverse=True)
    u = np.zeros((g.max() + 1, x1.shape[1]))
    np.add.at(u, g, x1 * (y - p)[:, None])
    v = h_inv @ (u.T @ u) @ h_inv
    return beta[1:], np.sqrt(np.diag(v))[1:]


def independent_predictor(task, records: pd.DataFrame, ecg_scores: pd.DataFrame,
                          covariates: list[str] | None = None) -> dict[str, float]:
    """`independent/hr_per_sd` (or `or_per_sd`), `_lo`, `_hi`, `independent/p`, `independent/n_covariates`
    for the ECG score adjusted for the covariates (NaN when the fit does not exist: no event, separation); {} for
    tasks without a single score."""
    kind = outcome_kind(task)
    if kind not in (SURVIVAL, BINARY):
        return {}
    records = records.reset_index(drop=True)
    cols = list(covariates) if covariates is not None else available_covariates(records)
    ecg = ecg_features(kind, task, pd.DataFrame(ecg_scores).reset_index(drop=True))["ecg"].to_numpy()
    x = pd.concat([pd.DataFrame({"ecg": ecg}), covariate_frame(records)[cols]], axis=1)
    z = pd.DataFrame(scaler().fit_transform(x), columns=x.columns)  # ecg per SD of the test rows
    pids = records["patient_id"].astype(str).to_numpy()
    if kind is SURVIVAL:
        t, e, incident = survival_outcome(task, records)
        frame = z[incident].assign(_t=np.maximum(t[incident], 0.5), _e=e[incident].astype(int),
                                   _pid=pids[incident])
        try:
            cph = CoxPHFitter().fit(frame, "_t", "_e", cluster_col="_pid")
            beta, se, p = (float(cph.summary.loc["ecg", k]) for k in ("coef", "se(coef)", "p"))
        except ConvergenceError:  # no event, or a covariate that separates events completely
            beta = se = p = float("nan")
        name = "hr_per_sd"
    else:
        b, s = logistic_wald(z.to_numpy(), binary_outcome(task, records), pids)
        beta, se = float(b[0]), float(s[0])
        p = float(2 * norm.sf(abs(beta) / se))
        name = "or_per_sd"
    if not (np.isfinite(beta) and np.isfinite(se) and se > 0):  # separation or a singular information matrix
        beta = se = p = float("nan")
    return {f"independent/{name}": float(np.exp(beta)), f"independent/{name}_lo": float(np.exp(beta - Z95 * se)),
            f"independent/{name}_hi": float(np.exp(beta + Z95 * se)), "independent/p": p,
            "independent/n_covariates": float(len(cols))}
