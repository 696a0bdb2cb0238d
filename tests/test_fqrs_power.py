"""The fine-detail marker has power at the `sweep` grid's test size.

On the `sweep` grid's cohort (`synthetic:1500,seed=1`, its patient split: val 0.15, test 0.25, seed 0; ~375 test
patients, ~720 MI-task ECGs, ~500 LVEF-task ECGs), the full oracle (`oracle_p_*`) beats the fQRS-blind oracle
(`oracle_p_*_no_fqrs`: fQRS marginalised given the scar) by an AUROC margin whose 95 % patient-bootstrap interval
(200 resamples, the harness's shared draws) excludes 0, for MI and for LVEF <= 40 %. If it did not, an image
resolution sweep could not show the notch's worth even with a perfect reader. The planted unadjusted fQRS odds
ratios stay inside the published ranges cited in `bench.data.simulator.config`.
Run with `-s` to print the numbers quoted in the README.
"""
from __future__ import annotations

import numpy as np
import pytest

from bench.base.bootstrap import bootstrap_indices, percentile_ci, resample_weights
from bench.base.labels import labels_to_records
from bench.base.metrics.classification import _auroc_batch, auroc
from bench.data.simulator.config import SimConfig
from bench.data.simulator.generate import plan_cohort, public_labels
from bench.harness.splits import patient_split
from tasks import TASKS

N_PATIENTS, SEED = 1500, 1  # bench/grids/sweep.toml and leak.toml: synthetic:1500,seed=1,charge_af=1,af_5y_incidence=0.15
SMALL_CONFIG = SimConfig(charge_af=True, af_5y_incidence=0.15)


@pytest.fixture(scope="module")
def sweep_cohort():
    plan, oracle = plan_cohort(N_PATIENTS, SEED, SMALL_CONFIG)
    records = labels_to_records(public_labels(plan), where=f"synthetic:{N_PATIENTS},seed={SEED},charge_af=1")
    return plan, records, oracle, patient_split(records, val=0.15, test=0.25, seed=0)


@pytest.mark.parametrize("task_name, column", [("mi", "oracle_p_mi"), ("lvef", "oracle_p_lvef")])
def test_full_oracle_beats_the_fqrs_blind_oracle_at_the_sweep_test_size(sweep_cohort, task_name, column):
    _, records, oracle, split = sweep_cohort
    task = TASKS.get(task_name)()
    test_records, test_oracle = records.iloc[split.test], oracle.iloc[split.test]
    keep = task.select(test_records)
    y = task.target(test_records[keep])
    full, blind = (test_oracle.loc[keep, c].to_numpy() for c in (column, f"{column}_no_fqrs"))
    pids = test_records.loc[keep, "patient_id"].to_numpy()
    w = resample_weights(pids, bootstrap_indices(pids, 200, 0))
    lo, hi = percentile_ci(_auroc_batch(y, full, weights=w) - _auroc_batch(y, blind, weights=w))
    margin = auroc(y, full) - auroc(y, blind)
    print(f"\n{task_name}: {len(y)} ECGs, {len(np.unique(pids))} patients, {int(y.sum())} positive; oracle AUROC "
          f"{auroc(y, full):.3f}, fQRS-blind {auroc(y, blind):.3f}, margin {margin:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    assert lo > 0, f"{task_name}: fQRS margin {margin:+.3f} [{lo:+.3f}, {hi:+.3f}] does not exclude 0"


def _odds_ratio(exposed: np.ndarray, outcome: np.ndarray) -> float:
    a, b = np.sum(exposed & outcome), np.sum(exposed & ~outcome)
    c, d = np.sum(~exposed & outcome), np.sum(~exposed & ~outcome)
    return float(a * d / (b * c))


def test_planted_fqrs_odds_ratios_are_within_published_ranges(sweep_cohort):
    """Unadjusted, per patient (first ECG): fQRS vs MI label within the pooled (~8.5) to Das 2006 (~50) range of
    fQRS for scar; fQRS vs LVEF <= 40 % within Alattar 2015's interval (1.1-15.7)."""
    plan, _, _, _ = sweep_cohort
    first = plan.drop_duplicates("patient_id")
    fqrs = first["marker_fqrs"].to_numpy() > 0
    or_mi = _odds_ratio(fqrs, first["mi"].to_numpy() == 1)
    echo = first["lvef"].notna().to_numpy()
    or_lv = _odds_ratio(fqrs[echo], first["lvef"].to_numpy()[echo] <= 40)
    print(f"\nunadjusted fQRS odds ratios: MI {or_mi:.1f}, LVEF <= 40 % {or_lv:.1f}; fQRS in "
          f"{fqrs.mean():.0%} of patients")
    assert 8.5 <= or_mi <= 50
    assert 1.1 <= or_lv <= 15.7
