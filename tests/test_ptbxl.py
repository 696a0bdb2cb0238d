"""PTB-XL as a source on the real subset: label counts of `data check --json` against an independent count from
ptbxl_database.csv and scp_statements.csv, the schema columns, per-ECG rate fallback, quarantine by name, and the
PTB-XL tasks' targets and metrics on real records."""
from __future__ import annotations

import ast
import contextlib
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from bench.base.cohort import MI_TERRITORIES, SUPERCLASSES, load_cohort
from bench.cli import main
from tasks import TASKS


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def data_check(spec: str, cache) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["data", "check", spec, "--cache-dir", str(cache), "--json"]) == 0
    return json.loads(out.getvalue())


def independent_counts(folder) -> dict:
    """Per-task counts straight from the CSVs: literal_eval of scp_codes, pandas join with scp_statements."""
    db = pd.read_csv(folder / "ptbxl_database.csv")
    scp = pd.read_csv(folder / "scp_statements.csv", index_col=0)
    codes = pd.DataFrame([(e, p, c) for e, p, s in zip(db["ecg_id"], db["patient_id"], db["scp_codes"])
                          for c in ast.literal_eval(s)], columns=["ecg_id", "patient_id", "code"])
    diag = codes.merge(scp.loc[scp["diagnostic"] == 1, ["diagnostic_class"]], left_on="code", right_index=True)
    mi_ecgs = set(diag.loc[diag["diagnostic_class"] == "MI", "ecg_id"])
    terr = codes.assign(t=codes["code"].replace({"IPLMI": "ILMI", "IPMI": "IMI"}))
    terr = terr[terr["t"].isin(MI_TERRITORIES) & terr["ecg_id"].isin(mi_ecgs)].drop_duplicates(["ecg_id", "t"])
    single = terr.groupby("ecg_id").filter(lambda g: len(g) == 1)
    af = codes[codes["code"].isin(["AFIB", "AFLT"])]
    everyone = {"n_ecgs": len(db), "n_patients": db["patient_id"].nunique()}
    return {
        "ptbxl_super": {"n_ecgs": diag["ecg_id"].nunique(), "n_patients": diag["patient_id"].nunique(),
                        "positives": {c: diag.loc[diag["diagnostic_class"] == c, "ecg_id"].nunique()
                                      for c in SUPERCLASSES}},
        "mi": {**everyone, "positives": {"MI": len(mi_ecgs)}},
        "af_rhythm": {**everyone, "positives": {"AF": af["ecg_id"].nunique()}},
        "mi_territory": {"n_ecgs": len(single), "n_patients": single["patient_id"].nunique(),
                         "positives": {t: int((single["t"] == t).sum()) for t in MI_TERRITORIES}},
    }


def test_data_check_counts_equal_an_independent_count(ptbxl_subset, cache):
    got = data_check(f"ptbxl:{ptbxl_subset}", cache)
    assert got["n_in"] == got["n_used"] + got["n_quarantined"] == 1513
    assert got["n_quarantined"] == 0 and got["n_rate_fallback"] == 0
    want = independent_counts(ptbxl_subset)
    assert set(got["tasks"]) == set(want)  # lvef and af_survival need outcomes PTB-XL does not have
    for task, counts in want.items():
        assert got["tasks"][task] == {k: v if k != "positives" else {a: int(b) for a, b in v.items()}
                                      for k, v in counts.items()}, task
    # the subset's SOURCE.md states these (any likelihood)
    assert got["tasks"]["ptbxl_super"]["positives"] == {"NORM": 813, "MI": 278, "STTC": 340, "CD": 306, "HYP": 164}
    assert got["tasks"]["af_rhythm"]["positives"] == {"AF": 83}


def test_schema_columns_from_the_records_table(ptbxl_subset, cache):
    c = load_cohort(f"ptbxl:{ptbxl_subset}", cache_dir=cache)
    r = c.records.set_index(c.records["ecg_id"].astype(int))
    db = pd.read_csv(ptbxl_subset / "ptbxl_database.csv").set_index("ecg_id").loc[r.index]
    np.testing.assert_array_equal(r["sex"], 1 - db["sex"])  # PTB-XL 0 male / 1 female -> schema 1 male / 0 female
    np.testing.assert_array_equal(r["height_cm"], db["height"])  # NaN where absent, on both sides
    np.testing.assert_array_equal(r["weight_kg"], db["weight"])
    np.testing.assert_array_equal(r["age"], db["age"].mask(db["age"] >= 300, 90))
    assert (r["fs"] == 100).all() and (r["records_note"] == "").all()
    assert r["height_cm"].isna().any() and r["height_cm"].notna().any()
    assert c.signals.shape == (1513, 12, 5000)


@pytest.fixture(scope="module")
def partial_folder(ptbxl_subset, tmp_path_factory):
    """ECG 1 with both files, 2 with the 100 Hz file only, 3 with the 500 Hz file only, 4 with none."""
    root = tmp_path_factory.mktemp("ptbxl_partial")
    shutil.copy(ptbxl_subset / "scp_statements.csv", root)
    db = pd.read_csv(ptbxl_subset / "ptbxl_database.csv")
    db[db["ecg_id"].isin([1, 2, 3, 4])].to_csv(root / "ptbxl_database.csv", index=False)
    for ecg_id, rates in ((1, ("lr", "hr")), (2, ("lr",)), (3, ("hr",))):
        for rate in rates:
            rel = f"records{100 if rate == 'lr' else 500}/00000/{ecg_id:05d}_{rate}"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            for suffix in (".hea", ".dat"):
                shutil.copy(ptbxl_subset / (rel + suffix), root / (rel + suffix))
    return root


@pytest.mark.parametrize("records, fs, fallback", [("100", {1: 100, 2: 100, 3: 500}, {3}),
                                                    ("500", {1: 500, 2: 100, 3: 500}, {2})])
def test_rate_preference_falls_back_per_ecg_and_quarantines_rows_without_files(partial_folder, tmp_path, records,
                                                                                fs, fallback):
    with pytest.warns(UserWarning, match=f"1 of 4 ECGs read at the other rate \\(no {records} Hz file\\)"):
        c = load_cohort(f"ptbxl:{partial_folder},records={records}", cache_dir=tmp_path)
    r = c.records.set_index(c.records["ecg_id"].astype(int))
    assert r["fs"].to_dict() == fs
    assert {i for i in r.index if r.loc[i, "records_note"]} == fallback
    rel = "records100/00000/00004_lr.hea" if records == "100" else "records500/00000/00004_hr.hea"
    assert c.quarantine.to_dict(orient="records") == [
        {"file": rel, "reason": "no signal file: neither filename_lr nor filename_hr exists"}]
    assert c.n_in == 4 == len(c) + len(c.quarantine)
    with pytest.warns(UserWarning):
        got = data_check(f"ptbxl:{partial_folder},records={records}", tmp_path)
    assert (got["n_in"], got["n_used"], got["n_quarantined"], got["n_rate_fallback"]) == (4, 3, 1, 1)
    assert got["quarantined"][0]["file"] == rel


def test_100hz_record_upsampled_matches_the_500hz_record(partial_folder, tmp_path):
    """ECG 1 read from its 100 Hz file (resampled to 500 Hz) follows its original 500 Hz recording."""
    with pytest.warns(UserWarning):
        lo = load_cohort(f"ptbxl:{partial_folder}", cache_dir=tmp_path)
    with pytest.warns(UserWarning):
        hi = load_cohort(f"ptbxl:{partial_folder},records=500", cache_dir=tmp_path)
    a = np.asarray(lo.signals[lo.records.index[lo.records["ecg_id"] == "1"][0]])
    b = np.asarray(hi.signals[hi.records.index[hi.records["ecg_id"] == "1"][0]])
    corr = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)]
    assert np.median(corr) > 0.95, corr


def test_unknown_option_and_bad_rate_are_one_line_errors(partial_folder):
    from bench.base.errors import CohortError

    with pytest.raises(CohortError, match="records must be 100 or 500"):
        load_cohort(f"ptbxl:{partial_folder},records=250")
    with pytest.raises(CohortError, match="unknown option"):
        load_cohort(f"ptbxl:{partial_folder},rate=500")


@pytest.mark.parametrize("name", ["ptbxl_super", "af_rhythm", "mi", "mi_territory"])
def test_ptbxl_tasks_score_real_labels(ptbxl_subset, cache, name):
    """Logits that follow the targets score near 1, reversed ones near 0 (targets, heads, score columns and
    metrics line up on real records); the loss prefers them to uninformative outputs."""
    import torch

    c = load_cohort(f"ptbxl:{ptbxl_subset}", cache_dir=cache)
    task = TASKS.get(name)()
    rec = c.records[task.select(c.records)].reset_index(drop=True)
    targets = task.encode(rec)
    (head, units), = task.heads.items()
    y = np.asarray(targets[next(iter(targets))])
    onehot = np.eye(units)[y.astype(int)] if name == "mi_territory" else y.reshape(len(rec), units)
    rng = np.random.default_rng(0)
    good = (4 * onehot - 2 + rng.normal(0, 0.5, onehot.shape)).astype(np.float32)
    for logits, lo, hi in ((good, 0.95, 1.0), (-good, 0.0, 0.05)):
        m = task.evaluate(rec, pd.DataFrame(task.predict({head: logits})))
        assert lo <= m[task.primary_metric] <= hi, (name, m)
    t = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in targets.items()}
    assert task.loss({head: torch.from_numpy(good)}, t) < task.loss({head: torch.zeros(len(rec), units)}, t)
    if name == "ptbxl_super":
        m = task.evaluate(rec, pd.DataFrame(task.predict({head: good})))
        assert {f"auroc_{s}" for s in SUPERCLASSES} <= set(m)


def test_data_check_json_on_the_synthetic_source(tmp_path):
    got = data_check("synthetic:30,seed=1", tmp_path)
    c = load_cohort("synthetic:30,seed=1", cache_dir=tmp_path)
    assert got["n_in"] == got["n_used"] + got["n_quarantined"] == len(c) + len(c.quarantine)
    assert set(got["tasks"]) == {"af_survival", "lvef", "mi", "mi_territory"}
    assert got["tasks"]["mi"]["positives"] == {"MI": int((c.records["mi"] == 1).sum())}
    assert sum(got["tasks"]["mi_territory"]["positives"].values()) == got["tasks"]["mi_territory"]["n_ecgs"]


def test_multilabel_macro_auroc_matches_scikit_learn():
    from sklearn.metrics import roc_auc_score

    from bench.base.metrics.classification import multilabel_macro_auroc

    rng = np.random.default_rng(3)
    y = (rng.random((300, 5)) < [0.5, 0.2, 0.25, 0.2, 0.1]).astype(int)
    p = np.clip(0.3 * y + rng.random((300, 5)), 0, 1).round(2)  # rounded: ties count one half in both
    w = rng.integers(0, 3, 300).astype(float)
    assert multilabel_macro_auroc(y, p, sample_weight=w) == pytest.approx(
        roc_auc_score(y, p, average="macro", sample_weight=w), abs=1e-12)
    y[:, 4] = 0  # a label with no positives here is left out of the mean
    assert multilabel_macro_auroc(y, p) == pytest.approx(roc_auc_score(y[:, :4], p[:, :4], average="macro"))
