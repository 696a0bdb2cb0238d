"""Discrete-time survival encoding and nnet-survival loss on hand-worked cases (DESIGN.md, 'Survival encoding')."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tasks._survival_encoding import (HORIZON_DAYS, INTERVAL_DAYS, INTERVAL_ENDS, N_INTERVALS, YEAR_INTERVAL,
                                     encode_survival, nnet_survival_loss, nnet_survival_loss_from_logits,
                                     survival_curve)


def _enc(t, e, prev=0):
    vc, va = encode_survival(np.array([t], float), np.array([e]), np.array([prev]))
    return vc[0], va[0]


def test_grid_is_25_intervals_of_73_days_over_5_years():
    assert (N_INTERVALS, INTERVAL_DAYS, HORIZON_DAYS) == (25, 73, 1825)
    assert INTERVAL_ENDS[YEAR_INTERVAL[1]] == 365 and INTERVAL_ENDS[YEAR_INTERVAL[2]] == 730
    assert INTERVAL_ENDS[YEAR_INTERVAL[5]] == 1825


def test_event_in_interval_two():
    vc, va = _enc(200.0, 1)  # 200 days: interval 2 = [146, 219)
    assert vc.tolist() == [1, 1] + [0] * 23
    assert va.tolist() == [0, 0, 1] + [0] * 22


def test_prevalent_af_is_an_event_in_interval_zero():
    vc, va = _enc(0.0, 1, prev=1)
    assert vc.sum() == 0 and va.tolist() == [1] + [0] * 24
    vc2, va2 = _enc(900.0, 0, prev=1)  # the prevalent flag wins over the follow-up columns
    assert np.array_equal(vc2, vc) and np.array_equal(va2, va)


def test_censoring_inside_an_interval_uses_the_midpoint_rule():
    vc, va = _enc(100.0, 0)  # interval 1 = [73, 146), midpoint 109.5 not reached
    assert vc.tolist() == [1] + [0] * 24 and va.sum() == 0
    vc, va = _enc(120.0, 0)  # past the midpoint: counted as surviving interval 1
    assert vc.tolist() == [1, 1] + [0] * 23 and va.sum() == 0


def test_event_free_through_the_horizon_survives_every_interval():
    for t, e in ((1825.0, 0), (2400.0, 0), (2400.0, 1)):  # an event after 5 years is outside the window
        vc, va = _enc(t, e)
        assert vc.sum() == 25 and va.sum() == 0


def _loss(p, vc, va):
    row = [torch.from_numpy(np.asarray(a, dtype=np.float64))[None, :] for a in (p, vc, va)]
    return float(nnet_survival_loss(*row)[0])


def test_loss_hand_worked():
    p = np.linspace(0.5, 0.98, 25)
    vc, va = _enc(200.0, 1)  # survived intervals 0 and 1, event in 2
    expected = -(math.log(p[0]) + math.log(p[1]) + math.log(1 - p[2]))
    assert _loss(p, vc, va) == pytest.approx(expected, rel=1e-12)


def test_interval_after_censoring_contributes_nothing():
    vc, va = _enc(120.0, 0)
    p = np.full(25, 0.9)
    base = _loss(p, vc, va)
    p2 = p.copy()
    p2[2:] = 0.01  # intervals after censoring: any prediction, same loss
    assert _loss(p2, vc, va) == pytest.approx(base, rel=1e-12)
    assert base == pytest.approx(-2 * math.log(0.9), rel=1e-12)  # two survived intervals contribute log p_j


def test_survived_and_event_interval_terms():
    p = np.full(25, 0.8)
    one_survived = _loss(p, *_enc(80.0, 1))  # survived interval 0, event in interval 1
    assert one_survived == pytest.approx(-(math.log(0.8) + math.log(0.2)), rel=1e-12)
    event_only = _loss(p, *_enc(10.0, 1))  # event in interval 0: only log(1 - p_0)
    assert event_only == pytest.approx(-math.log(0.2), rel=1e-12)


def test_loss_is_clipped_away_from_log_zero():
    p = np.ones(25)
    vc, va = _enc(10.0, 1)  # event where p = 1 -> log(0) without the clip
    assert math.isfinite(_loss(p, vc, va)) and _loss(p, vc, va) == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_logit_form_matches_formula_and_keeps_gradient_when_saturated():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2200, 64)
    e = rng.random(64) < 0.3
    vc, va = (torch.tensor(a) for a in encode_survival(t, e))
    logits = torch.tensor(rng.normal(2.0, 1.5, (64, 25)), dtype=torch.float32)
    a = nnet_survival_loss(torch.sigmoid(logits.double()), vc.double(), va.double())
    b = nnet_survival_loss_from_logits(logits, vc, va)
    assert torch.allclose(a.float(), b, rtol=1e-4, atol=1e-4)
    sat = torch.full((1, 25), 40.0, requires_grad=True)  # sigmoid rounds to 1 in float32
    loss = nnet_survival_loss_from_logits(sat, torch.zeros(1, 25), torch.eye(25)[:1]).sum()
    loss.backward()
    assert torch.isfinite(loss) and sat.grad[0, 0] > 0.5


def test_predicted_survival_is_the_running_product():
    p = np.array([[0.9, 0.8, 0.5] + [1.0] * 22])
    s = survival_curve(p)
    assert s[0, :3] == pytest.approx([0.9, 0.72, 0.36])
    assert s[0, 24] == pytest.approx(0.36)
