"""Download a PhysioNet dataset (PTB-XL) into its published layout: resumable, every file checked against the
dataset's SHA256SUMS.txt.

A file already present with the right hash is skipped; a partial download (`<file>.part`) is continued with an
HTTP Range request (or restarted when the server ignores ranges); a finished file is moved into place only after
its hash matches. Standard library only (urllib), so it works wherever Python does.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

from bench.base.errors import BenchError

PTBXL_URL = "https://physionet.org/files/ptb-xl/1.0.3/"
_CHUNK = 1 << 20


class FetchError(BenchError):
    """A download failed or a downloaded file does not match its published SHA256 (names the file)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _get(url: str, start: int = 0, timeout: float = 60.0):
    req = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(f"{url}: download failed ({e})") from e


def parse_sums(text: str) -> dict[str, str]:
    """SHA256SUMS.txt ('<hex>  <relative path>' per line) -> {path: hex}; refuses paths leaving the folder."""
    out = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2:
            continue
        digest, rel = parts[0].lower(), parts[1].lstrip("*").strip()
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or len(digest) != 64:
            raise FetchError(f"SHA256SUMS.txt: refusing entry {line.strip()!r}")
        out[str(p)] = digest
    return out


def download(url: str, dest: Path, sha256: str) -> bool:
    """Fetch one file (resuming a .part) and verify it; returns True when bytes were transferred."""
    if dest.is_file() and _sha256(dest) == sha256:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    with _get(url, start) as resp:
        mode = "ab" if start and getattr(resp, "status", 200) == 206 else "wb"
        with open(part, mode) as f:
            for block in iter(lambda: resp.read(_CHUNK), b""):
                f.write(block)
    got = _sha256(part)
    if got != sha256:
        part.unlink()
        raise FetchError(f"{dest}: SHA256 {got} does not match the published {sha256}; partial file removed")
    os.replace(part, dest)
    return True


def fetch_physionet(base_url: str, to: str | os.PathLike, records: str = "both") -> int:
    """Mirror the files listed in `<base_url>SHA256SUMS.txt` into `to` (records100/ and/or records500/ plus every
    top-level file). Returns the number of files present and verified."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    root = Path(to)
    root.mkdir(parents=True, exist_ok=True)
    with _get(base + "SHA256SUMS.txt") as resp:
        sums = parse_sums(resp.read().decode("utf-8", "replace"))
    if not sums:
        raise FetchError(f"{base}SHA256SUMS.txt lists no files")
    (root / "SHA256SUMS.txt").write_text("".join(f"{h}  {p}\n" for p, h in sums.items()))
    skip = {"100": ("records500/",), "500": ("records100/",), "both": ()}[records]
    wanted = {p: h for p, h in sums.items() if not p.startswith(skip)} if skip else sums
    for rel, digest in sorted(wanted.items()):
        download(base + rel, root / rel, digest)
    return len(wanted)
