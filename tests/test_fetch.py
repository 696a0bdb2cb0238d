"""`data fetch ptbxl` against a local HTTP server serving the PhysioNet layout built from the real fixture files:
download, SHA256 check, skip of verified files, resume of a partial file, refusal of a corrupted one."""
from __future__ import annotations

import hashlib
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.data.sources.fetch import FetchError, fetch_physionet


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with single-range support (as PhysioNet's server), logging requested paths."""

    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        RangeHandler.requests.append((self.path, self.headers.get("Range")))
        rng = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not rng or not rng.startswith("bytes="):
            return super().do_GET()
        try:
            data = open(path, "rb").read()
        except OSError:
            return self.send_error(404)
        start = int(rng[6:].split("-")[0])
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture()
def server(shared_data, tmp_path):
    """PhysioNet-style PTB-XL tree (records100/00000/00001_lr.*, CSVs, SHA256SUMS.txt) served on 127.0.0.1."""
    root = tmp_path / "www"
    src = shared_data / "real" / "ptbxl"
    (root / "records100" / "00000").mkdir(parents=True)
    for suffix in (".hea", ".dat"):
        shutil.copy(src / f"00001_lr{suffix}", root / "records100" / "00000" / f"00001_lr{suffix}")
    shutil.copy(src / "scp_statements.csv", root / "scp_statements.csv")
    shutil.copy(src / "ptbxl_database_rows_subset.csv", root / "ptbxl_database.csv")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    (root / "SHA256SUMS.txt").write_text("".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n" for p in files))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    RangeHandler.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    httpd.shutdown()
    httpd.server_close()


def test_fetch_downloads_verifies_and_resumes(server, tmp_path):
    url, root = server
    dest = tmp_path / "ptbxl"
    assert fetch_physionet(url, dest) == 4
    for rel in ("records100/00000/00001_lr.hea", "records100/00000/00001_lr.dat", "ptbxl_database.csv"):
        assert (dest / rel).read_bytes() == (root / rel).read_bytes()
    # second run: only the checksum list is requested
    RangeHandler.requests = []
    fetch_physionet(url, dest)
    assert [p for p, _ in RangeHandler.requests] == ["/SHA256SUMS.txt"]
    # a partial download is resumed with a Range request
    dat = dest / "records100/00000/00001_lr.dat"
    full = dat.read_bytes()
    dat.unlink()
    (dat.parent / (dat.name + ".part")).write_bytes(full[:1000])
    RangeHandler.requests = []
    fetch_physionet(url, dest)
    assert ("/records100/00000/00001_lr.dat", "bytes=1000-") in RangeHandler.requests
    assert dat.read_bytes() == full and not (dat.parent / (dat.name + ".part")).exists()
    # the fetched folder is a PTB-XL source
    from bench.base.cohort import load_cohort

    c = load_cohort(f"ptbxl:{dest}", cache_dir=tmp_path / "cache")
    assert len(c) == 1 and c.records.loc[0, "ecg_id"] == "1"


def test_fetch_refuses_a_file_whose_hash_differs(server, tmp_path):
    url, root = server
    (root / "scp_statements.csv").write_text("tampered\n")
    with pytest.raises(FetchError, match="scp_statements.csv: SHA256 .* does not match"):
        fetch_physionet(url, tmp_path / "d")
    assert not (tmp_path / "d" / "scp_statements.csv").exists()


def test_fetch_cli_reports_unreachable_server(tmp_path, capsys):
    from bench.cli import main

    assert main(["data", "fetch", "ptbxl", "--to", str(tmp_path), "--base-url", "http://127.0.0.1:9/"]) == 1
    assert "download failed" in capsys.readouterr().err
