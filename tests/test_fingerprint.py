"""Data fingerprints key grid cells by the data's content: the same ECG folder provisioned again (every file
rewritten, new modification times, same path) resumes a grid's cells; a changed byte or a new file reruns them."""
from __future__ import annotations

import os
import shutil

import pytest

from bench.data.fingerprint import data_fingerprint
from bench.data.simulator.files import write_cohort
from bench.harness.grid import load_grid


@pytest.fixture(scope="module")
def sim_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    write_cohort(out, 12, seed=5)
    return out


def _keys(tmp_path, folder) -> set[str]:
    grid = tmp_path / "g.toml"
    grid.write_text(f'name = "g"\nsource = "folder:{folder}"\nseeds = [0]\n[split]\nval = 0.2\ntest = 0.2\n'
                    '[[tasks]]\nname = "mi"\n[[representations]]\nname = "raw"\n[[models]]\nname = "cnn1d"\n')
    cells = load_grid(str(grid)).expand()[0]
    fp = data_fingerprint(f"folder:{folder}")
    return {c.key(fp) for c in cells}


def test_the_same_data_provisioned_again_keys_the_same_cells(sim_folder, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(sim_folder, data)
    before_fp, before_keys = data_fingerprint(f"folder:{data}"), _keys(tmp_path, data)
    shutil.rmtree(data)
    shutil.copytree(sim_folder, data, copy_function=shutil.copyfile)  # new files: fresh modification times
    for dirpath, _, files in os.walk(data):
        for f in files:
            os.utime(os.path.join(dirpath, f), ns=(1_000_000_000, 1_000_000_000))
    assert data_fingerprint(f"folder:{data}") == before_fp
    assert _keys(tmp_path, data) == before_keys


def test_a_changed_byte_or_a_new_file_changes_the_keys(sim_folder, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sim_folder, copy)
    base, base_keys = data_fingerprint(f"folder:{copy}"), _keys(tmp_path, copy)
    dat = sorted((copy / "ecgs").rglob("*.dat"))[0]
    raw = bytearray(dat.read_bytes())
    raw[100] ^= 0x01  # one bit of one sample: same size, same mtime restored
    st = dat.stat()
    dat.write_bytes(bytes(raw))
    os.utime(dat, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = data_fingerprint(f"folder:{copy}")
    assert changed != base
    assert _keys(tmp_path, copy).isdisjoint(base_keys)
    (copy / "notes.txt").write_text("a new file")
    assert data_fingerprint(f"folder:{copy}") not in {base, changed}


def test_an_unreadable_entry_still_shapes_the_fingerprint(sim_folder, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sim_folder, copy)
    base = data_fingerprint(f"folder:{copy}")
    (copy / "ecgs" / "gone.hea").symlink_to(copy / "ecgs" / "nowhere.hea")  # dangling: quarantined when read
    assert data_fingerprint(f"folder:{copy}") != base
