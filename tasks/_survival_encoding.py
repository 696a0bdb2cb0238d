"""Discrete-time survival encoding and loss of ECG-AI (Khurshid et al., Circulation 2022), after nnet-survival
(Gensheimer & Narasimhan, PeerJ 2019), with the interval rule of the ECG-AI code (ml4h `_survival_tensor`).

Interval k starts on day 73 k after the ECG. An AF event goes to the interval whose start is the first on or after
the event day: AF on or before the ECG date (prevalent) to interval 0, incident AF on day t > 0 to interval
ceil(t / 73). So interval 0 holds prevalent AF only, and interval k >= 1 holds AF on days (73 (k - 1), 73 k].
Survival column k is P(no AF by day 73 k): k = 0 is P(no prevalent AF), and the incident risk by day 73 k of an ECG
without prevalent AF is 1 - S_k / S_0 (tasks/af_survival.py reads it so).

Departure from ECG-AI: its code has 25 slots (starts 0 .. 1752 days), so an event on days 1753-1825 falls outside
them and 5 years is no slot's day. Here N_INTERVALS = 26: one prevalent interval plus 25 incident intervals of 73
days, the horizon is 25 x 73 = 1825 days, and the 1-, 2- and 5-year risks are read at interval days 365, 730, 1825.

Per ECG two length-26 vectors:
- `V_censor`: 1 in each interval the person is known to have survived: interval k iff 73 k < event day (ml4h), or
  for a censored person iff 73 k <= censoring day. ml4h writes < for both; the two differ only when censoring falls
  exactly on an interval day, and here it does for most rows: follow-up cut at the horizon ends on day 1825, and
  with < nobody would survive the last interval, which would then learn p = 0. (On day 0: a row censored on the ECG
  date is known free of prevalent AF.) Prevalent AF survives nothing.
- `V_AF`: 1 in the interval of the AF event, else 0 (an event after the horizon: survived every interval).
The model outputs p_j, the conditional probability of staying AF-free through interval j given AF-free at its
start (independent sigmoids, no proportional-hazards assumption); p_0 = P(no prevalent AF). Predicted survival to
day 73 k is S_k = prod_{j <= k} p_j. Loss per ECG:
    L = -sum_j [ log(V_censor_j p_j + 1 - V_censor_j) + log(1 - V_AF_j p_j) ],  clipped away from log(0).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bench.base.cohort import HORIZON_DAYS, INTERVAL_DAYS, N_INTERVALS  # noqa: F401 - the one survival grid

#: Day after the ECG at which survival column k is read (S_k = P(no AF by day 73 k)); day 0 for prevalent AF.
SURVIVAL_DAYS = INTERVAL_DAYS * np.arange(N_INTERVALS, dtype=float)
#: Survival column read at the given whole number of years (73 days x 5 = 1 year).
YEAR_INTERVAL = {1: 5, 2: 10, 5: 25}


def encode_survival(time_days: np.ndarray, event: np.ndarray, prevalent: np.ndarray | None = None,
                    n_intervals: int = N_INTERVALS, interval_days: float = INTERVAL_DAYS
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(V_censor, V_AF), each (n, n_intervals) float32, from days to AF or censoring, the event flag and the
    prevalent-AF flag (AF on or before the ECG: event in interval 0 whatever the time says; so is an event on a
    day <= 0)."""
    t = np.asarray(time_days, dtype=float)
    prev = np.zeros(len(t), bool) if prevalent is None else np.asarray(prevalent).astype(bool)
    e = np.asarray(event).astype(bool) | prev
    t = np.where(prev, 0.0, t)
    j = np.arange(n_intervals)[None, :]
    day = interval_days * j
    survived = np.where(e[:, None], day < t[:, None], day <= t[:, None])
    k = np.ceil(np.maximum(t, 0.0) / interval_days).astype(int)  # first interval starting on or after the event
    v_af = (j == k[:, None]) & e[:, None]
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
    """(n, n_intervals) conditional survival -> survival to day 73 k, prod_{j <= k} p_j."""
    return np.cumprod(np.asarray(p, dtype=float), axis=1)
