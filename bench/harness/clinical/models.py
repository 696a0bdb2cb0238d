"""The clinical-only risk model and the ECG + clinical combination, scoring rows in the task's score-column format.

- `ClinicalRisk(task).fit(train_records)`: Cox (lifelines) for AF survival, logistic regression for binary tasks,
  multinomial logistic regression for territories (scikit-learn), on the covariates the training rows carry;
- `CombinedRisk(task, clinical=<fitted ClinicalRisk>).fit(val_records, val_ecg_scores)`: stacking, the same kind
  of model on two inputs only, the ECG score and the clinical model's linear predictor (Cox log partial hazard,
  logistic decision function; territories: K of each, log class probabilities), fitted on the validation split,
  where the ECG model's scores are honest. Refitting the ~12 covariates there too overfits a few-hundred-patient
  split with a few dozen events (the small reference run's combination scored below clinical-only on AF); the
  covariates' weights are learned once, on training, and the validation split fits 2 coefficients;
- `.scores(records[, ecg_scores])` returns a DataFrame the task's own metrics read (survival to each interval day,
  1/2/5-year risks, `score`, or `p_<territory>`), so `evaluate_with_ci` scores it on the shared resamples.
Both follow the scikit-learn contract: `__init__` stores, `fit` learns attributes ending in `_` (the fitted
clinical model is a parameter of the combination, as a prefit base estimator is of scikit-learn's stacking).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from sklearn.linear_model import LogisticRegression

from bench.base.cohort import MI_TERRITORIES
from bench.base.errors import CohortError
from bench.harness.clinical.design import (BINARY, SURVIVAL, available_covariates, binary_outcome, class_outcome,
                                           covariate_frame, ecg_features, log_probability, outcome_kind, scaler,
                                           survival_outcome)
from tasks._survival_encoding import SURVIVAL_DAYS
from tasks.af_survival import _survival_columns

#: Ridge penalty of the Cox fits (lifelines `penalizer`, on standardised inputs): a guard against separation in
#: small splits that moves no coefficient of a 400-patient fit by more than a few per cent.
COX_PENALIZER = 0.01


class _OutcomeModel:
    """Shared fit / score of a model of the task's outcome on an input matrix (standardised on the fit rows);
    subclasses say what the inputs are (`_inputs`)."""

    def _inputs(self, records: pd.DataFrame, ecg_scores: pd.DataFrame | None) -> pd.DataFrame:
        raise NotImplementedError

    def _fit(self, records: pd.DataFrame, ecg_scores: pd.DataFrame | None):
        records = records.reset_index(drop=True)
        x = self._inputs(records, ecg_scores)
        self.columns_ = list(x.columns)
        self.scaler_ = scaler().fit(x)
        z = pd.DataFrame(self.scaler_.transform(x), columns=self.columns_)
        if self.kind_ is SURVIVAL:
            t, e, incident = survival_outcome(self.task, records)
            frame = z[incident].assign(_t=np.maximum(t[incident], 0.5), _e=e[incident].astype(int))
            self.model_ = CoxPHFitter(penalizer=COX_PENALIZER).fit(frame, "_t", "_e")
        elif self.kind_ is BINARY:
            self.model_ = LogisticRegression(max_iter=2000).fit(z, binary_outcome(self.task, records))
        else:
            y = class_outcome(records)
            keep = y >= 0
            self.model_ = LogisticRegression(max_iter=2000).fit(z[keep], y[keep])
        return self

    def _standardised(self, records: pd.DataFrame, ecg_scores: pd.DataFrame | None) -> pd.DataFrame:
        x = self._inputs(records.reset_index(drop=True), ecg_scores)
        return pd.DataFrame(self.scaler_.transform(x), columns=self.columns_)

    def _scores(self, records: pd.DataFrame, ecg_scores: pd.DataFrame | None) -> pd.DataFrame:
        z = self._standardised(records, ecg_scores)
        if self.kind_ is SURVIVAL:
            # fitted on incident rows: day 0's cumulative hazard is 0 (S_0 = 1), so the risks read S_k / S_0 = S_k
            cumhaz = self.model_.predict_cumulative_hazard(z, times=SURVIVAL_DAYS).T.to_numpy(float)
            return pd.DataFrame(_survival_columns(cumhaz))
        if self.kind_ is BINARY:
            return pd.DataFrame({"score": self.model_.predict_proba(z)[:, 1]})
        prob = np.zeros((len(z), len(MI_TERRITORIES)))
        prob[:, self.model_.classes_] = self.model_.predict_proba(z)
        return pd.DataFrame({f"p_{t}": prob[:, i] for i, t in enumerate(MI_TERRITORIES)})

    def coefficients(self) -> pd.Series | pd.DataFrame:
        """Fitted coefficients per input, per SD of the fit rows (log hazard or log odds ratios); multinomial: one
        row per territory."""
        if self.kind_ is SURVIVAL:
            return self.model_.params_.copy()
        if self.kind_ is BINARY:
            return pd.Series(self.model_.coef_[0], index=self.columns_)
        return pd.DataFrame(self.model_.coef_, columns=self.columns_,
                            index=[MI_TERRITORIES[c] for c in self.model_.classes_])


class ClinicalRisk(_OutcomeModel):
    """Clinical-only baseline: the task's outcome on the covariates alone (fitted on the training split)."""

    def __init__(self, task, *, covariates: list[str] | None = None):
        self.task = task
        self.covariates = covariates

    def _inputs(self, records: pd.DataFrame, ecg_scores: None) -> pd.DataFrame:
        return covariate_frame(records)[self.covariates_]

    def fit(self, records: pd.DataFrame) -> "ClinicalRisk":
        self.kind_ = outcome_kind(self.task)
        self.covariates_ = (list(self.covariates) if self.covariates is not None
                            else available_covariates(records.reset_index(drop=True)))
        if not self.covariates_:
            raise CohortError(f"task {self.task.name!r}: the fit rows carry no clinical covariate "
                              f"(none of age, sex, race, height_cm, weight_kg, sbp, dbp, smoker, bp_meds, "
                              f"diabetes, heart_failure, prior_mi)")
        return self._fit(records, None)

    def scores(self, records: pd.DataFrame) -> pd.DataFrame:
        return self._scores(records, None)

    def linear_predictor(self, records: pd.DataFrame) -> pd.DataFrame:
        """The fitted model's linear predictor per row: `clinical_lp` (Cox log partial hazard, logistic decision
        function), or `clinical_lp_<territory>` (log class probabilities, on the ECG score's scale)."""
        z = self._standardised(records, None)
        if self.kind_ is SURVIVAL:
            return pd.DataFrame({"clinical_lp": self.model_.predict_log_partial_hazard(z).to_numpy(float)})
        if self.kind_ is BINARY:
            return pd.DataFrame({"clinical_lp": self.model_.decision_function(z)})
        prob = self._scores(records, None).to_numpy(float)
        return pd.DataFrame(log_probability(prob), columns=[f"clinical_lp_{t}" for t in MI_TERRITORIES])


class CombinedRisk(_OutcomeModel):
    """ECG + clinical by stacking: the ECG model's score and `clinical`'s linear predictor (`clinical`: a
    `ClinicalRisk` already fitted on the training split), fitted on the validation split."""

    def __init__(self, task, *, clinical: ClinicalRisk):
        self.task = task
        self.clinical = clinical

    def _inputs(self, records: pd.DataFrame, ecg_scores: pd.DataFrame) -> pd.DataFrame:
        ecg = ecg_features(self.kind_, self.task, pd.DataFrame(ecg_scores).reset_index(drop=True))
        return pd.concat([ecg, self.clinical.linear_predictor(records)], axis=1)

    def fit(self, records: pd.DataFrame, ecg_scores: pd.DataFrame) -> "CombinedRisk":
        self.kind_ = outcome_kind(self.task)
        return self._fit(records, ecg_scores)

    def scores(self, records: pd.DataFrame, ecg_scores: pd.DataFrame) -> pd.DataFrame:
        return self._scores(records, ecg_scores)
