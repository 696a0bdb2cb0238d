"""Incident atrial fibrillation within 5 years as discrete-time survival, with age, sex and AF-in-statement
auxiliary heads (ECG-AI; Khurshid et al., Circulation 2022). Encoding and loss: tasks/_survival_encoding.py.

Survival column k is S_k = P(no AF by day 73 k), S_0 = P(no prevalent AF). The incident metrics judge ECGs without
prevalent AF, so they read the incident survival S_k / S_0 = P(no AF by day 73 k | none on or before the ECG date):
`risk_<y>y` = 1 - S_k / S_0 and `cumhaz_<y>y` = -log(S_k / S_0), never the prevalent probability 1 - S_0, which
`prevalent_auroc` reads alone.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.base.metrics import MetricCall
from bench.base.metrics.survival import km_calibration_table
from tasks.base import register_task
from tasks._metric_plan import PlannedTask, column, masked_bce, sigmoid
from tasks._survival_encoding import (HORIZON_DAYS, N_INTERVALS, SURVIVAL_DAYS, YEAR_INTERVAL, encode_survival,
                                     nnet_survival_loss_from_logits)

SURV_COLUMNS = tuple(f"surv_{k:02d}" for k in range(N_INTERVALS))


def _survival_columns(cumhaz: np.ndarray) -> dict[str, np.ndarray]:
    """Score columns from -log S_k, (n, N_INTERVALS): `surv_kk` = S_k; incident `risk_<y>y`, `cumhaz_<y>y` and
    `score` (5-year risk) from S_k / S_0. Where S_0 is 0 (the oracle of an ECG showing AF: a prevalent row, read
    by no incident metric) the caller's clip makes every -log S_k equal, so its incident risk reads 0."""
    surv = np.exp(-cumhaz)
    incident = cumhaz - cumhaz[:, :1]
    out = {c: surv[:, k] for k, c in enumerate(SURV_COLUMNS)}
    for y, k in YEAR_INTERVAL.items():
        out[f"risk_{y}y"] = -np.expm1(-incident[:, k])
        out[f"cumhaz_{y}y"] = incident[:, k]
    out["score"] = out["risk_5y"]
    return out


def incident_survival(surv: np.ndarray) -> np.ndarray:
    """(n, N_INTERVALS) S_k -> (n, N_INTERVALS - 1) S_k / S_0 for k >= 1, read at SURVIVAL_DAYS[1:] (clipped as
    `_survival_columns` is: 1 where S_0 is 0)."""
    log_s = np.log(np.clip(np.asarray(surv, dtype=float), 1e-300, 1.0))
    return np.exp(log_s[:, 1:] - log_s[:, :1])


def _ranking(scores: pd.DataFrame, years: int) -> np.ndarray:
    """Score that orders rows by risk at `years` without float saturation (cumhaz when present)."""
    col = f"cumhaz_{years}y" if f"cumhaz_{years}y" in scores else f"risk_{years}y"
    return scores[col].to_numpy(float)


@register_task("af_survival")
class AFSurvival(PlannedTask):
    """Rows with AF follow-up (days to AF or censoring and the event flag) or AF before the ECG.

    Survival metrics judge incident AF, so rows with AF before the ECG are left out of them (they still train
    interval 0); follow-up is cut at 5 years. One ECG per patient is drawn at random each training epoch, so
    patients with many ECGs do not dominate the loss.
    """
    sources = frozenset({"synthetic", "folder"})
    #: 2: interval 0 holds prevalent AF only (26 intervals); risks are incident, S_k / S_0.
    version = "2"

    heads = {"survival": N_INTERVALS, "age": 1, "sex": 1, "af_statement": 1}
    primary_metric = "c_index"
    risk_columns = ("risk_5y",)
    #: `survival_logit_offset` is added to the survival head's raw outputs: p_j = sigmoid(output_j + offset). With
    #: the default logit(0.995) an untrained head (outputs ~ 0) predicts 0.5 % AF per interval, 12 % in 5 years,
    #: instead of p_j = 1/2 and a 5-year risk of 1 - 0.5^25; it is the same as starting the head's bias there.
    defaults = {"survival_weight": 1.0, "age_weight": 1.0, "sex_weight": 1.0, "af_statement_weight": 1.0,
                "age_mean": 60.0, "age_sd": 15.0, "one_ecg_per_patient": True,
                "survival_logit_offset": float(np.log(0.995 / 0.005))}

    # ---- data ---------------------------------------------------------------------------------------------------
    def select(self, records: pd.DataFrame) -> np.ndarray:
        t, e = column(records, "af_time_days"), column(records, "af_event")
        return (np.isfinite(t) & np.isin(e, (0.0, 1.0))) | (column(records, "prevalent_af") == 1)

    @staticmethod
    def _follow_up(records: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        prevalent = column(records, "prevalent_af", 0.0) == 1
        t = np.nan_to_num(column(records, "af_time_days"), nan=0.0)
        e = np.nan_to_num(column(records, "af_event"), nan=0.0) == 1
        return t, e, prevalent

    def encode(self, records: pd.DataFrame) -> dict[str, np.ndarray]:
        t, e, prevalent = self._follow_up(records)
        v_censor, v_af = encode_survival(t, e, prevalent)
        age = column(records, "age")
        sex = column(records, "sex")
        stmt = column(records, "af_in_statement")
        z_age = (age - float(self.p("age_mean"))) / float(self.p("age_sd"))
        f32 = np.float32
        return {"v_censor": v_censor, "v_af": v_af,
                "age": np.nan_to_num(z_age).astype(f32), "age_mask": np.isfinite(age).astype(f32),
                "sex": np.nan_to_num(sex).astype(f32), "sex_mask": np.isin(sex, (0.0, 1.0)).astype(f32),
                "af_statement": np.nan_to_num(stmt).astype(f32),
                "af_statement_mask": np.isin(stmt, (0.0, 1.0)).astype(f32)}

    def positives(self, records: pd.DataFrame) -> dict[str, int]:
        """AF observed: before the ECG (prevalent) or during follow-up."""
        return {"AF": int((column(records, "af_event") == 1).sum())}

    def epoch_indices(self, records: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """One ECG per patient, drawn afresh each epoch (all rows when `one_ecg_per_patient` is false)."""
        if not self.p("one_ecg_per_patient") or "patient_id" not in records.columns:
            return np.arange(len(records))
        perm = rng.permutation(len(records))
        _, first = np.unique(records["patient_id"].astype(str).to_numpy()[perm], return_index=True)
        return np.sort(perm[first])

    # ---- model side ---------------------------------------------------------------------------------------------
    def loss(self, outputs, targets):
        logits = outputs["survival"] + float(self.p("survival_logit_offset"))
        surv = nnet_survival_loss_from_logits(logits, targets["v_censor"], targets["v_af"]).mean()
        total = float(self.p("survival_weight")) * surv
        if "age" in outputs and float(self.p("age_weight")):
            m = targets["age_mask"].reshape(-1)
            err = (outputs["age"].reshape(-1) - targets["age"].reshape(-1)) ** 2
            total = total + float(self.p("age_weight")) * (err * m).sum() / m.sum().clamp(min=1.0)
        for head in ("sex", "af_statement"):
            if head in outputs and float(self.p(f"{head}_weight")):
                total = total + float(self.p(f"{head}_weight")) * masked_bce(
                    outputs[head], targets[head], targets[f"{head}_mask"])
        return total

    def predict(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Survival to day 73 k (prod_{j<=k} p_j, summed in log space), incident 1/2/5-year risk, and
        cumhaz_<y>y = -log(S_k / S_0) for ranking: risks of badly calibrated models round to 1.0 in float64
        (0.5^25 survival) and would tie, the cumulative hazard keeps their order."""
        logits = np.asarray(outputs["survival"], dtype=float) + float(self.p("survival_logit_offset"))
        cumhaz = np.cumsum(np.logaddexp(0.0, -logits), axis=1)
        out = _survival_columns(cumhaz)
        if "age" in outputs:
            out["age_pred"] = (np.asarray(outputs["age"], float).reshape(-1) * float(self.p("age_sd"))
                               + float(self.p("age_mean")))
        if "sex" in outputs:
            out["p_male"] = sigmoid(np.asarray(outputs["sex"]).reshape(-1))
        if "af_statement" in outputs:
            out["p_af_statement"] = sigmoid(np.asarray(outputs["af_statement"]).reshape(-1))
        return out

    def gradcam_target(self) -> tuple[str, object]:
        """Evidence against survival over all intervals: the sum of the per-interval logits, negated."""
        return "survival", _neg_logit_sum

    def oracle_scores(self, oracle: pd.DataFrame) -> dict[str, np.ndarray] | None:
        cols = [f"oracle_{c}" for c in SURV_COLUMNS]
        if not set(cols) <= set(oracle.columns):
            return None
        surv = np.clip(oracle[cols].to_numpy(dtype=float), 1e-300, 1.0)
        return _survival_columns(-np.log(surv))

    # ---- evaluation ---------------------------------------------------------------------------------------------
    def metric_calls(self, records: pd.DataFrame, scores: pd.DataFrame) -> list[MetricCall]:
        t, e, prevalent = self._follow_up(records)
        incident = ~prevalent
        h = float(HORIZON_DAYS)
        calls: list[MetricCall] = []
        if "risk_5y" in scores:
            r5 = scores["risk_5y"].to_numpy(float)
            rank5 = _ranking(scores, 5)
            calls += [MetricCall("c_index", "harrell_c", (t, e, rank5), {"horizon": h}, incident),
                      MetricCall("uno_c", "uno_c", (t, e, rank5), {"tau": h}, incident)]
            for y, k in YEAR_INTERVAL.items():
                if f"risk_{y}y" in scores:
                    calls.append(MetricCall(f"auc_{y}y", "cumulative_dynamic_auc", (t, e, _ranking(scores, y)),
                                            {"t": float(SURVIVAL_DAYS[k])}, incident))
            calls += [MetricCall("brier_5y", "brier_at", (t, e, 1.0 - r5), {"t": h}, incident),
                      MetricCall("calib_km_5y", "km_calibration_error", (t, e, r5), {"t": h, "n_groups": 10},
                                 incident),
                      MetricCall("ici_5y", "ici", (t, e, r5), {"t": h}, incident),
                      MetricCall("e50_5y", "e50", (t, e, r5), {"t": h}, incident),
                      MetricCall("calib_slope_5y", "cox_calib_slope", (t, e, r5), {"t": h}, incident)]
        if set(SURV_COLUMNS) <= set(scores.columns):
            surv = scores[list(SURV_COLUMNS)].to_numpy(float)
            calls.append(MetricCall("ibs", "integrated_brier", (t, e, incident_survival(surv)),
                                    {"times": SURVIVAL_DAYS[1:]}, incident))
            calls.append(MetricCall("prevalent_auroc", "auroc", (prevalent.astype(int), 1.0 - surv[:, 0])))
        age, sex, stmt = column(records, "age"), column(records, "sex"), column(records, "af_in_statement")
        if "age_pred" in scores:
            calls.append(MetricCall("age_mae", "mae", (age, scores["age_pred"].to_numpy(float)),
                                    mask=np.isfinite(age)))
        if "p_male" in scores:
            calls.append(MetricCall("sex_auroc", "auroc", (sex, scores["p_male"].to_numpy(float)),
                                    mask=np.isin(sex, (0.0, 1.0))))
        if "p_af_statement" in scores:
            calls.append(MetricCall("af_statement_auroc", "auroc", (stmt, scores["p_af_statement"].to_numpy(float)),
                                    mask=np.isin(stmt, (0.0, 1.0))))
        return calls

    def tables(self, records: pd.DataFrame, scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Predicted 5-year risk vs Kaplan-Meier observed risk by decile of predicted risk (incident rows)."""
        if "risk_5y" not in scores:
            return {}
        t, e, prevalent = self._follow_up(records.reset_index(drop=True))
        keep = ~prevalent
        tab = km_calibration_table(t[keep], e[keep], scores["risk_5y"].to_numpy(float)[keep],
                                   t=float(HORIZON_DAYS), n_groups=10)
        frame = pd.DataFrame(tab, columns=["decile", "n", "mean_predicted_risk_5y", "km_observed_risk_5y"])
        return {"calibration_5y": frame.astype({"decile": int, "n": int})}


def _neg_logit_sum(outputs):
    """Grad-CAM score of the survival head: low conditional survival anywhere in follow-up = high AF risk."""
    return -outputs.sum(1)
