"""Cohort sources: the simulator's folder through the real readers, quarantine accounting, labels CSV errors,
PTB-XL / PTB fixtures, the signal cache, patient-wise splits and `data check`."""
from __future__ import annotations

import shutil
import time

import numpy as np
import pandas as pd
import pytest

from bench.base.cohort import MI_TERRITORIES, N_INTERVALS, load_cohort
from bench.base.errors import CohortError
from bench.data.simulator import simulate
from bench.data.simulator.files import write_cohort
from bench.harness.splits import assert_patient_disjoint, patient_split


@pytest.fixture(scope="module")
def sim_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    write_cohort(out, 25, seed=3)
    return out


def test_simulator_folder_is_a_folder_source_equal_to_in_memory(sim_folder, tmp_path):
    c = load_cohort(f"folder:{sim_folder}", cache_dir=tmp_path)
    rec, sig, orc = simulate(25, seed=3)
    assert len(c) == len(rec) == c.n_in and len(c.quarantine) == 0
    assert (c.records["ecg_id"].to_numpy() == rec["ecg_id"].to_numpy()).all()
    assert np.abs(np.asarray(c.signals) - sig).max() < 1e-3  # WFDB derived leads round to 1 uV
    for col in ("af_time_days", "af_event", "prevalent_af", "lvef", "lvef_days", "mi", "age", "sex", "hr_bpm"):
        np.testing.assert_allclose(c.records[col].to_numpy(float), rec[col].to_numpy(float), rtol=0, atol=1e-3,
                                   err_msg=col)
    assert c.oracle is not None and np.allclose(c.oracle["oracle_p_mi"], orc["oracle_p_mi"], atol=1e-5)
    assert {"file", "patient_id", "fs", "pr_ms", "p_dur_ms", "qrs_ms", "qt_ms", "hr_bpm"} <= set(c.records.columns)
    assert set(c.records["mi_territory"]) <= set(MI_TERRITORIES) | {""}


def test_bad_files_are_quarantined_and_counted(sim_folder, tmp_path):
    folder = tmp_path / "f"
    shutil.copytree(sim_folder, folder)
    lab = pd.read_csv(folder / "labels.csv", dtype=str, keep_default_na=False)
    xml = lab.loc[lab["file"].str.endswith(".xml"), "file"].iloc[0]
    (folder / xml).write_bytes((folder / xml).read_bytes()[:3000])  # truncated XML
    hea = lab.loc[lab["file"].str.endswith(".hea"), "file"].iloc[0]
    (folder / hea).with_suffix(".dat").unlink()  # signal file gone
    extra = lab.iloc[[0]].assign(file="ecgs/missing.xml", ecg_id="missing")
    pd.concat([lab, extra]).to_csv(folder / "labels.csv", index=False)
    orc = pd.read_csv(folder / "oracle.csv", dtype={"ecg_id": str})
    pd.concat([orc, orc.iloc[[0]].assign(ecg_id="missing")]).to_csv(folder / "oracle.csv", index=False)
    c = load_cohort(f"folder:{folder}", cache_dir=tmp_path / "cache")
    assert c.n_in == len(lab) + 1 == len(c) + len(c.quarantine)
    q = dict(zip(c.quarantine["file"], c.quarantine["reason"]))
    assert set(q) == {xml, hea, "ecgs/missing.xml"}
    assert "no such file" in q["ecgs/missing.xml"] and ".dat" in q[hea]
    assert c.oracle is not None and len(c.oracle) == len(c)
    assert not set(q) & set(c.records["file"])


def _write_labels(folder, df):
    df.to_csv(folder / "labels.csv", index=False)
    return f"folder:{folder}"


def test_labels_csv_errors_name_columns_and_rows(sim_folder, tmp_path):
    lab = pd.read_csv(sim_folder / "labels.csv", dtype=str, keep_default_na=False)
    folder = tmp_path / "x"
    folder.mkdir()
    with pytest.raises(CohortError, match="missing required column.*patient_id"):
        load_cohort(_write_labels(folder, lab.drop(columns=["patient_id"])))
    bad = lab.copy()
    bad.loc[3, "ecg_datetime"] = "yesterday"
    with pytest.raises(CohortError, match=r"'ecg_datetime' is not a date-time \(CSV lines 5\)"):
        load_cohort(_write_labels(folder, bad))
    bad = lab.copy()
    bad.loc[[0, 2], "sex"] = "unknown"
    with pytest.raises(CohortError, match=r"'sex'.*lines 2, 4"):
        load_cohort(_write_labels(folder, bad))
    bad = lab.copy()
    bad.loc[1, "lvef"] = "140"
    with pytest.raises(CohortError, match="'lvef' must be a number in"):
        load_cohort(_write_labels(folder, bad))
    bad = lab.copy()
    bad.loc[1, ["mi", "mi_territory"]] = ["1", "POSTERIOR"]
    with pytest.raises(CohortError, match="mi_territory"):
        load_cohort(_write_labels(folder, bad))
    with pytest.raises(CohortError, match="labels file .* not found"):
        load_cohort(f"folder:{tmp_path}")


def test_minimal_folder_gives_only_the_tasks_whose_columns_exist(sim_folder, tmp_path):
    lab = pd.read_csv(sim_folder / "labels.csv", dtype=str, keep_default_na=False)
    mini = lab[["file", "patient_id", "ecg_datetime", "lvef", "lvef_datetime"]].head(6)
    mini = mini.assign(file=[str(sim_folder / f) for f in mini["file"]])  # absolute paths: with allow_outside=1
    folder = tmp_path / "m"
    folder.mkdir()
    refused = load_cohort(_write_labels(folder, mini), cache_dir=tmp_path / "cache")
    assert len(refused) == 0 and refused.quarantine["reason"].str.startswith("outside the folder").all()
    c = load_cohort(_write_labels(folder, mini) + ",allow_outside=1", cache_dir=tmp_path / "cache")
    assert len(c) == 6 and "lvef_days" in c.records and "af_event" not in c.records and "mi" not in c.records
    assert c.oracle is None
    mini.to_csv(tmp_path / "mine.csv", index=False)  # a CSV outside the folder, named by labels=
    c2 = load_cohort(f"folder:{folder},labels={tmp_path / 'mine.csv'},allow_outside=1", cache_dir=tmp_path / "cache")
    assert len(c2) == 6 and "labels=" in c2.source and c2.source.endswith("mine.csv,allow_outside=1")


def test_synthetic_source_cached_memmap_and_patient_split(tmp_path):
    t = time.perf_counter()
    c1 = load_cohort("synthetic:30,seed=5", cache_dir=tmp_path)
    first = time.perf_counter() - t
    t = time.perf_counter()
    c2 = load_cohort("synthetic:30,seed=5", cache_dir=tmp_path)
    second = time.perf_counter() - t
    assert c1.fingerprint == c2.fingerprint and isinstance(c2.signals, np.memmap)
    assert second < first
    assert len([p for p in (tmp_path / "synthetic").iterdir() if not p.name.startswith(".")]) == 1  # + lock file
    assert load_cohort("synthetic:30,seed=6", cache_dir=tmp_path).fingerprint != c1.fingerprint
    sp = patient_split(c2.records, seed=0)
    assert_patient_disjoint(c2.records, sp)
    assert sum(sp.sizes().values()) == len(c2)
    with pytest.raises(CohortError, match="unknown option"):
        load_cohort("synthetic:30,sed=5", cache_dir=tmp_path)


def test_ptbxl_fixture_with_cinc_records(shared_data, tmp_path):
    real = shared_data / "real"
    c = load_cohort(f"ptbxl:{real / 'ptbxl'},records=500,records_dir={real / 'cinc2021'}", cache_dir=tmp_path)
    assert len(c) == 11 and c.n_in == 11 and len(c.quarantine) == 0
    r = c.records.set_index("ecg_id")
    assert r.loc["1", "fs"] == 100 and r.loc["6000", "fs"] == 500
    assert r.loc["6000", "sex"] == 0 and r.loc["6002", "sex"] == 1  # PTB-XL 1 = female; CinC headers agree
    assert (r["mi"] == 0).all() and (r["af_in_statement"] == 0).all()
    assert r.loc["6000", "strat_fold"] == 10
    sp = patient_split(c.records, fold_column="strat_fold")
    assert set(c.records.loc[sp.test, "strat_fold"]) == {10}
    assert np.isfinite(np.asarray(c.signals)).all() and np.abs(c.signals).max() < 10
    c100 = load_cohort(f"ptbxl:{real / 'ptbxl'}", cache_dir=tmp_path)
    assert len(c100) == 1 and len(c100.quarantine) == 10 and c100.n_in == 11
    assert c100.quarantine["reason"].str.contains("no signal file").all()
    assert set(c100.quarantine["file"]) == {f"records100/06000/0{i}_lr.hea" for i in range(6000, 6010)}


def test_ptbxl_statement_mapping(shared_data):
    import pandas as pd

    from bench.data.sources.ptbxl import scp_labels, superclass_map

    classes = superclass_map(pd.read_csv(shared_data / "real" / "ptbxl" / "scp_statements.csv", index_col=0))
    got = scp_labels({"IMI": 100.0, "ASMI": 15.0, "SR": 0.0}, classes)  # every key counts, whatever its likelihood
    assert got["mi"] == 1 and got["mi_territories"] == "ASMI|IMI" and got["mi_territory"] == ""
    got = scp_labels({"IPLMI": 80.0, "NDT": 50.0, "AFIB": 0.0}, classes)
    assert (got["mi"], got["mi_territory"], got["superclasses"], got["af"], got["af_in_statement"]) == \
        (1, "ILMI", "MI|STTC", 1, 1)
    got = scp_labels({"PMI": 100.0, "AFLT": 0.0}, classes)
    assert (got["mi"], got["mi_territory"], got["af"], got["af_in_statement"]) == (1, "", 1, 0)
    got = scp_labels({"INJAS": 100.0}, classes)  # injury: MI superclass, no territory
    assert (got["mi"], got["mi_territories"], got["superclass_STTC"]) == (1, "", 0)
    got = scp_labels({"SR": 0.0, "LVOLT": 0.0}, classes)  # rhythm and form only: no superclass
    assert got["superclasses"] == "" and got["mi"] == 0 and got["af"] == 0


def test_ptb_fixture(shared_data, tmp_path):
    c = load_cohort(f"ptb:{shared_data / 'real' / 'ptbdb'}", cache_dir=tmp_path)
    assert len(c) == 1 and c.signals.shape == (1, 12, 5000)
    r = c.records.iloc[0]
    assert r["mi"] == 1 and r["mi_territory"] == "ILMI" and r["age"] == 81 and r["sex"] == 0
    from bench.data.sources.ptb import territory

    assert territory("antero-septal") == "ASMI" and territory("inferior") == "IMI" and territory("posterior") == ""


def test_ptb_layout_controls_and_bad_records(shared_data, tmp_path):
    """patientNNN/sNNNN_re layout: an MI record, a healthy control (header edited), a truncated signal file."""
    src = shared_data / "real" / "ptbdb"
    root = tmp_path / "ptbdb"
    for pat, rec in (("patient001", "s0010_re"), ("patient104", "s0306_re"), ("patient200", "s0400_re")):
        (root / pat).mkdir(parents=True)
        for suf in (".dat", ".xyz"):
            shutil.copy(src / f"s0010_re{suf}", root / pat / f"{rec}{suf}")
        hea = (src / "s0010_re.hea").read_text(encoding="latin-1").replace("s0010_re", rec)
        if pat == "patient104":
            hea = hea.replace("Reason for admission: Myocardial infarction", "Reason for admission: Healthy control")
        (root / pat / f"{rec}.hea").write_text(hea, encoding="latin-1")
    dat = root / "patient200" / "s0400_re.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    c = load_cohort(f"ptb:{root}", cache_dir=tmp_path / "cache")
    assert c.n_in == 3 and len(c) == 2 and list(c.quarantine["file"]) == ["patient200/s0400_re.hea"]
    r = c.records.set_index("patient_id")
    assert r.loc["patient001", "mi"] == 1 and r.loc["patient001", "mi_territory"] == "ILMI"
    assert r.loc["patient104", "mi"] == 0 and r.loc["patient104", "mi_territory"] == ""


def test_data_check_command(sim_folder, tmp_path, capsys):
    from bench.cli import main

    assert main(["data", "check", f"folder:{sim_folder}", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "quarantined" in out and "mi = 1" in out and "train" in out and "oracle" in out
    assert main(["data", "check", f"folder:{tmp_path}/nope"]) == 1


def test_data_synth_command_writes_a_folder_source(tmp_path, capsys):
    from bench.cli import main

    out = tmp_path / "cohort"
    assert main(["data", "synth", "--out", str(out), "--patients", "6", "--seed", "2"]) == 0
    assert "ECG/s" in capsys.readouterr().out
    lab = pd.read_csv(out / "labels.csv")
    assert {"patient_id", "file", "fs", "hr_bpm", "pr_ms", "p_dur_ms", "qrs_ms", "qt_ms"} <= set(lab.columns)
    assert {".hea", ".xml"} >= {p.suffix for p in (out / "ecgs").iterdir()} - {".dat"}
    orc = pd.read_csv(out / "oracle.csv")
    assert len(orc) == len(lab) and [f"oracle_surv_{k:02d}" for k in range(N_INTERVALS)] == list(orc.columns[1:27])


def test_parallel_reading_keeps_order_and_quarantines(sim_folder, monkeypatch):
    from bench.data.sources.common import _read_all

    good = sorted((sim_folder / "ecgs").glob("*.hea"))[:2]
    paths = [good[i % 2] for i in range(140)]
    paths[70] = sim_folder / "ecgs" / "absent.xml"
    res = list(_read_all(paths, workers=2))
    assert len(res) == 140 and isinstance(res[70], str) and "no such file" in res[70]
    assert np.array_equal(res[0], res[2]) and not np.array_equal(res[0], res[1])
