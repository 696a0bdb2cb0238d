"""Discrete-time survival encoding and nnet-survival loss on hand-worked cases (DESIGN.md, 'Survival encoding')."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from tasks._survival_encoding import (HORIZON_DAYS, INTERVAL_DAYS, N_INTERVALS, SURVIVAL_DAYS, YEAR_INTERVAL,
                                     encode_survival, nnet_survival_loss, nnet_survival_loss_from_logits,
                                     survival_curve)


def _enc(t, e, prev=0):
    vc, va = encode_survival(np.array([t], float), np.array([e]), np.array([prev]))
    return vc[0], va[0]


def _ones(*idx):
    v = np.zeros(N_INTERVALS)
    v[list(idx)] = 1
    return v.tolist()


def test_grid_is_one_prevalent_and_25_incident_intervals_of_73_days_over_5_years():
    assert (N_INTERVALS, INTERVAL_DAYS, HORIZON_DAYS) == (26, 73, 1825)
    assert SURVIVAL_DAYS[0] == 0 and SURVIVAL_DAYS[-1] == HORIZON_DAYS
    assert SURVIVAL_DAYS[YEAR_INTERVAL[1]] == 365 and SURVIVAL_DAYS[YEAR_INTERVAL[2]] == 730
    assert SURVIVAL_DAYS[YEAR_INTERVAL[5]] == 1825


def test_prevalent_af_alone_is_in_interval_zero():
    vc, va = _enc(0.0, 1, prev=1)
    assert vc.sum() == 0 and va.tolist() == _ones(0)
    vc2, va2 = _enc(900.0, 0, prev=1)  # the prevalent flag wins over the follow-up columns
    assert np.array_equal(vc2, vc) and np.array_equal(va2, va)
    vc3, va3 = _enc(-3.0, 1)  # AF dated before the ECG without the flag: prevalent too
    assert np.array_equal(vc3, vc) and np.array_equal(va3, va)


def test_incident_event_goes_to_the_first_interval_starting_on_or_after_it():
    # (day, interval): day 1 and day 73 -> interval 1 (start 73), day 74 -> interval 2 (start 146)
    for day, k in ((1.0, 1), (73.0, 1), (74.0, 2), (200.0, 3), (1825.0, 25)):
        vc, va = _enc(day, 1)
        assert va.tolist() == _ones(k), day
        assert vc.tolist() == _ones(*range(k)), day  # survived every interval starting before the event day


def test_censoring_survives_the_intervals_starting_on_or_before_it():
    vc, va = _enc(100.0, 0)  # AF-free on days 0 and 73 seen, day 146 not reached
    assert vc.tolist() == _ones(0, 1) and va.sum() == 0
    vc, va = _enc(146.0, 0)  # censored on an interval day: seen AF-free that day
    assert vc.tolist() == _ones(0, 1, 2) and va.sum() == 0


def test_follow_up_to_the_horizon_or_an_event_after_it_survives_every_interval():
    for t, e in ((1825.0, 0), (2400.0, 0), (1826.0, 1), (2400.0, 1)):  # an event after 5 years is outside the window
        vc, va = _enc(t, e)
        assert vc.sum() == N_INTERVALS and va.sum() == 0, (t, e)


def _loss(p, vc, va):
    row = [torch.from_numpy(np.asarray(a, dtype=np.float64))[None, :] for a in (p, vc, va)]
    return float(nnet_survival_loss(*row)[0])


def test_loss_hand_worked():
    p = np.linspace(0.5, 0.98, N_INTERVALS)
    vc, va = _enc(200.0, 1)  # survived intervals 0, 1 and 2 (days 0, 73, 146), event in 3
    expected = -(math.log(p[0]) + math.log(p[1]) + math.log(p[2]) + math.log(1 - p[3]))
    assert _loss(p, vc, va) == pytest.approx(expected, rel=1e-12)


def test_loss_on_the_edge_cases():
    p = np.linspace(0.6, 0.99, N_INTERVALS)
    cases = {(0.0, 1, 1): -math.log(1 - p[0]),  # prevalent: only the event term of interval 0
             (1.0, 1, 0): -(math.log(p[0]) + math.log(1 - p[1])),
             (73.0, 1, 0): -(math.log(p[0]) + math.log(1 - p[1])),
             (74.0, 1, 0): -(math.log(p[0]) + math.log(p[1]) + math.log(1 - p[2])),
             (100.0, 0, 0): -(math.log(p[0]) + math.log(p[1])),
             (2400.0, 1, 0): -np.log(p).sum()}
    for (t, e, prev), expected in cases.items():
        assert _loss(p, *_enc(t, e, prev)) == pytest.approx(expected, rel=1e-12), (t, e, prev)


def test_interval_after_censoring_contributes_nothing():
    vc, va = _enc(100.0, 0)
    p = np.full(N_INTERVALS, 0.9)
    base = _loss(p, vc, va)
    p2 = p.copy()
    p2[2:] = 0.01  # intervals after censoring: any prediction, same loss
    assert _loss(p2, vc, va) == pytest.approx(base, rel=1e-12)
    assert base == pytest.approx(-2 * math.log(0.9), rel=1e-12)  # two survived intervals contribute log p_j


def test_survived_and_event_interval_terms():
    p = np.full(N_INTERVALS, 0.8)
    one_survived = _loss(p, *_enc(80.0, 1))  # survived intervals 0 and 1, event in interval 2
    assert one_survived == pytest.approx(-(2 * math.log(0.8) + math.log(0.2)), rel=1e-12)
    event_only = _loss(p, *_enc(0.0, 1, prev=1))  # event in interval 0: only log(1 - p_0)
    assert event_only == pytest.approx(-math.log(0.2), rel=1e-12)


def test_loss_is_clipped_away_from_log_zero():
    p = np.ones(N_INTERVALS)
    vc, va = _enc(0.0, 1, prev=1)  # event where p = 1 -> log(0) without the clip
    assert math.isfinite(_loss(p, vc, va)) and _loss(p, vc, va) == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_logit_form_matches_formula_and_keeps_gradient_when_saturated():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2200, 64)
    e = rng.random(64) < 0.3
    vc, va = (torch.tensor(a) for a in encode_survival(t, e))
    logits = torch.tensor(rng.normal(2.0, 1.5, (64, N_INTERVALS)), dtype=torch.float32)
    a = nnet_survival_loss(torch.sigmoid(logits.double()), vc.double(), va.double())
    b = nnet_survival_loss_from_logits(logits, vc, va)
    assert torch.allclose(a.float(), b, rtol=1e-4, atol=1e-4)
    sat = torch.full((1, N_INTERVALS), 40.0, requires_grad=True)  # sigmoid rounds to 1 in float32
    loss = nnet_survival_loss_from_logits(sat, torch.zeros(1, N_INTERVALS), torch.eye(N_INTERVALS)[:1]).sum()
    loss.backward()
    assert torch.isfinite(loss) and sat.grad[0, 0] > 0.5


def test_predicted_survival_is_the_running_product():
    p = np.array([[0.9, 0.8, 0.5] + [1.0] * (N_INTERVALS - 3)])
    s = survival_curve(p)
    assert s[0, :3] == pytest.approx([0.9, 0.72, 0.36])
    assert s[0, -1] == pytest.approx(0.36)


def test_km_figure_reads_incident_survival_with_no_first_step_jump():
    """The arrays behind km_vs_predicted for the simulator's oracle: incident survival S_k / S_0 on days 73 k of the
    rows without prevalent AF, whose mean on day 73 is the Kaplan-Meier AF-free proportion. Tolerance: 4 binomial
    standard errors counted over patients, not rows (a patient's ECGs are not independent); the old reading (S_1
    alone, paroxysmal prevalent AF included: ~1.5 % at day 73) is many such errors away."""
    from bench.base.labels import labels_to_records
    from bench.base.metrics.survival import kaplan_meier
    from bench.data.simulator.generate import plan_cohort, public_labels
    from bench.report.curves import _survival_arrays
    from bench.report.paired import ORACLE
    from tasks import TASKS

    plan, oracle = plan_cohort(3000, seed=4)
    records = labels_to_records(public_labels(plan))
    scores = pd.DataFrame(TASKS.get("af_survival")().oracle_scores(oracle)).add_prefix(ORACLE)
    t, e, inc = _survival_arrays(pd.concat([records, scores], axis=1), ORACLE)
    assert inc.shape == (int((records["prevalent_af"] == 0).sum()), N_INTERVALS - 1)
    observed = float(kaplan_meier(t, e.astype(float), np.array([73.0]))[0])
    tol = 4 * np.sqrt(observed * (1 - observed) / records["patient_id"].nunique())
    assert abs(inc[:, 0].mean() - observed) < tol, (inc[:, 0].mean(), observed, tol)
    s1 = scores[f"{ORACLE}surv_01"].to_numpy()[(records["prevalent_af"] == 0).to_numpy()]
    assert observed - s1.mean() > tol
