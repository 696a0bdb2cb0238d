"""Discrete-time survival encoding and loss of ECG-AI (Khurshid et al., Circulation 2022), after nnet-survival
(Gensheimer & Narasimhan, PeerJ 2019).

Follow-up after the ECG is cut into N_INTERVALS = 25 intervals of 73 days (5 years); interval k covers days
[73 k, 73 (k + 1)). AF before the ECG is an event at day 0, so interval 0 holds prevalent AF (with the first 73
days): 25 x 73 days is exactly the 5-year horizon, and the 1-, 2- and 5-year risks are read at interval ends.

Per ECG two length-25 vectors:
- `V_censor`: 1 in each interval the person was at risk and survived; 0 in the event interval and after censoring.
  Censored inside interval k counts as surviving it when censored in its second half (nnet-survival's rule).
- `V_AF`: 1 in the interval of the AF event, else 0.
The model outputs p_j, the conditional probability of staying AF-free through interval j given AF-free at its
start (independent sigmoids, no proportional-hazards assumption). Predicted survival to the end of interval k is
prod_{j <= k} p_j. Loss per ECG:
    L = -sum_j [ log(V_censor_j p_j + 1 - V_censor_j) + log(1 - V_AF_j p_j) ],  clipped away from log(0).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bench.base.cohort import HORIZON_DAYS, INTERVAL_DAYS, N_INTERVALS  # noqa: F401 - the one survival grid

#: End of each interval in days after the ECG.
INTERVAL_ENDS = INTERVAL_DAYS * np.arange(1, N_INTERVALS + 1, dtype=float)
#: Interval whose end is the given whole number of years (73 days x 5 = 1 year).
YEAR_INTERVAL = {1: 4, 2: 9, 5: 24}


def encode_survival(time_days: np.ndarray, event: np.ndarray, prevalent: np.ndarray | None = None,
                    n_intervals: int = N_INTERVALS, interval_days: float = INTERVAL_DAYS
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(V_censor, V_AF), each (n, n_intervals) float32, from days to AF or censoring, the event flag and the
    prevalent-AF flag (AF before the ECG: event in interval 0 whatever the time says)."""
    t = np.asarray(time_days, dtype=float)
    e = np.asarray(event).astype(bool)
    prev = np.zeros(len(t), bool) if prevalent is None else np.asarray(prevalent).astype(bool)
    t = np.where(prev, 0.0, np.maximum(t, 0.0))
    e = e | prev
    k = np.floor(t / interval_days).astype(int)  # interval holding the event / censoring
    j = np.arange(n_intervals)[None, :]
    beyond = k >= n_intervals  # event-free through the horizon: survived every interval
    midpoint_passed = (t - k * interval_days) >= interval_days / 2.0
    survived = (j < k[:, None]) | (beyond[:, None]) | ((j == k[:, None]) & (~e & midpoint_passed)[:, None])
    v_af = (j == k[:, None]) & (e & ~beyond)[:, None]
    return survived.astype(np.float32), v_af.astype(np.float32)


def nnet_survival_loss(p: torch.Tensor, v_censor: torch.Tensor, v_af: torch.Tensor,
                       eps: float = 1e-7) -> torch.Tensor:
    """Per-ECG loss (batch,) from conditional survival probabilities p (batch, n), exactly the formula above."""
    term_s = torch.log(torch.clamp(v_censor * p + 1.0 - v_censor, min=eps))
    term_f = torch.log(torch.clamp(1.0 - v_af * p, min=eps))
    return -(term_s + term_f).sum(dim=1)


def nnet_survival_loss_from_logits(logits: torch.Tensor, v_censor: torch.Tensor, v_af: torch.Tensor,
                                   eps: float = 1e-7) -> torch.Tensor:
    """The same loss from logits, for training: with 0/1 targets log(V p + 1 - V) = V log p and
    log(1 - V p) = V log(1 - p), computed with log-sigmoid so float32 saturation (p rounding to 1) neither hits
    log(0) nor zeroes the gradient. Equals `nnet_survival_loss` wherever p is at least eps away from 0 and 1;
    fractional targets fall back to the clipped formula."""
    if bool(((v_censor != 0) & (v_censor != 1)).any() or ((v_af != 0) & (v_af != 1)).any()):
        return nnet_survival_loss(torch.sigmoid(logits), v_censor, v_af, eps)
    return -(v_censor * F.logsigmoid(logits) + v_af * F.logsigmoid(-logits)).sum(dim=1)


def survival_curve(p: np.ndarray) -> np.ndarray:
    """(n, n_intervals) conditional survival -> survival to the end of each interval, prod_{j <= k} p_j."""
    return np.cumprod(np.asarray(p, dtype=float), axis=1)
