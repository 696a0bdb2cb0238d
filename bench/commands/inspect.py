"""`python -m bench inspect FILE... [--json]`: what the readers make of ECG files, or why they refuse them.

Per file: format, rate, leads, samples, duration, per-lead peak amplitude (mV, from the lead's median), statements
and warnings (the reader's and those of `standardise`, e.g. limb leads that break Einthoven's law); or the error
kind and message. With --json, a JSON array with one object per file. The exit status is
1 if any file failed.
"""
from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="decode ECG files and report format, rate, leads, amplitudes, errors")
    p.add_argument("files", nargs="+", metavar="FILE", help="ECG files (WFDB .hea/.dat/.mat, XML, .dcm, .scp, ...)")
    p.add_argument("--json", action="store_true", help="print a JSON array with one object per file")
    p.set_defaults(func=run)


def describe(path: str) -> dict:
    """Summary of one file: the keys of a decoded ECG, or `path` and `error` {kind, message}."""
    import numpy as np

    from bench.base.errors import ECGReadError
    from bench.data.readers import read_ecg
    from bench.data.standardise import standardise

    try:
        sig = read_ecg(path)
        warnings = standardise(sig).warnings  # adds the Einthoven/Goldberger check of given limb leads
    except ECGReadError as e:
        return {"path": str(path), "error": {"kind": e.kind, "message": str(e)}}
    peaks = np.abs(sig.data - np.median(sig.data, axis=1, keepdims=True)).max(axis=1)
    return {
        "path": str(path),
        "format": sig.format,
        "fs": float(sig.fs),
        "leads": list(sig.leads),
        "samples": sig.n_samples,
        "duration_s": round(sig.duration_s, 4),
        "lead_peak_mv": {lead: round(float(p), 3) for lead, p in zip(sig.leads, peaks)},
        "statements": list(sig.meta.get("statements") or []),
        "warnings": list(warnings),
    }


def _text(d: dict) -> str:
    if "error" in d:
        return f"{d['path']}\n  ERROR [{d['error']['kind']}] {d['error']['message']}"
    peaks = ", ".join(f"{k} {v:.2f}" for k, v in d["lead_peak_mv"].items())
    lines = [
        d["path"],
        f"  format {d['format']}, {d['fs']:g} Hz, {len(d['leads'])} leads, {d['samples']} samples "
        f"({d['duration_s']:g} s)",
        f"  peak mV: {peaks}",
    ]
    lines += [f"  statement: {s}" for s in d["statements"]]
    lines += [f"  warning: {w}" for w in d["warnings"]]
    return "\n".join(lines)


def run(args) -> int:
    results = [describe(f) for f in args.files]
    if args.json:
        json.dump(results, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print("\n".join(_text(d) for d in results))
    return 1 if any("error" in d for d in results) else 0
