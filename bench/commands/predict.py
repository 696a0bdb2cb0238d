"""`python -m bench predict --run RUN_ID FILE_OR_FOLDER... [--out scores.csv]`: score new ECG files with a trained
cell's model from MLflow.

Every file goes through the readers and `standardise` exactly as a cohort's files do for training
(`bench.data.sources.common.read_standardised`), then the run's logged model (fitted representation, network,
the task's output decoding; `bench.harness.model_store`). One CSV row per ECG: `file`, `ecg_id` (the path relative
to the folder given, or the file name, without extension, as a folder source names ECGs), `status` (`scored` or
`unreadable`), `reason` (why a file was unreadable) and the task's score columns (the `score_*` columns of the run's
`predictions.csv`, without the prefix). Unreadable files are also listed on stderr. `--best --experiment NAME
--task T` picks the finished cell of task T with the best validation primary metric (never a test metric).
Exit status: 0 when at least one ECG was scored, 1 when none was, 2 when the model cannot be found.
"""
from __future__ import annotations

import sys
from pathlib import Path

from bench.commands._common import add_store_options, resolve_paths

#: WFDB signal files read through their header (`.hea`): listed only when no header of the same name is beside them
_WFDB_COMPANIONS = (".dat", ".mat", ".xyz")
_BATCH = 256  # ECGs read and scored at a time: 256 x 12 x 5000 float32 = 61 MB


def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="score ECG files with a trained cell's model from MLflow")
    p.add_argument("paths", nargs="+", metavar="FILE_OR_FOLDER",
                   help="ECG files, or folders searched recursively (WFDB .hea, XML, .dcm, .scp, .mat, ...)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", metavar="RUN_ID", help="MLflow run id of a finished cell")
    which.add_argument("--best", action="store_true",
                       help="the finished cell of --task in --experiment with the best validation primary metric")
    p.add_argument("--experiment", help="experiment for --best (e.g. repbench-smoke)")
    p.add_argument("--task", help="task for --best (its name, or its label in the grid)")
    p.add_argument("--out", type=Path, default=None, help="CSV to write (default: stdout)")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"),
                   help="where the model runs (default cpu)")
    add_store_options(p)
    p.set_defaults(func=run)


def ecg_files(paths: list[str]) -> list[tuple[Path, str]]:
    """(file, ecg id) for every file named or found under a folder named, in a stable order. WFDB signal files
    beside their header are left out (the header reads them); every other file is offered to the readers."""
    out: list[tuple[Path, str]] = []
    for given in paths:
        p = Path(given)
        if not p.is_dir():
            out.append((p, p.with_suffix("").name if p.suffix else p.name))
            continue
        for f in sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")):
            if f.suffix.lower() in _WFDB_COMPANIONS and f.with_suffix(".hea").is_file():
                continue
            out.append((f, f.relative_to(p).with_suffix("").as_posix()))
    return out


def _read(files: list[tuple[Path, str]]):
    """Standardised signals of the readable files, and a row (file, ecg_id, status, reason) per file."""
    import numpy as np

    from bench.base.errors import ECGReadError
    from bench.data.sources.common import read_standardised

    signals, rows = [], []
    for path, ecg_id in files:
        try:
            signals.append(read_standardised(path))
            rows.append({"file": str(path), "ecg_id": ecg_id, "status": "scored", "reason": ""})
        except ECGReadError as e:
            rows.append({"file": str(path), "ecg_id": ecg_id, "status": "unreadable",
                         "reason": f"{type(e).__name__}: {e.reason}"})
            print(f"bench predict: {path}: unreadable: {e.reason}", file=sys.stderr)
    return (np.stack(signals) if signals else np.zeros((0, 12, 5000), np.float32)), rows


def score_files(model, files: list[tuple[Path, str]], device: str = "cpu"):
    """One row per file: identification, status and the model's score columns (empty when unreadable)."""
    import pandas as pd

    frames = []
    for i in range(0, len(files), _BATCH):
        signals, rows = _read(files[i:i + _BATCH])
        meta = pd.DataFrame(rows, columns=["file", "ecg_id", "status", "reason"])
        scores = model.predict(signals, params={"device": device}) if len(signals) else pd.DataFrame()
        scores.index = meta.index[meta["status"] == "scored"]
        frames.append(meta.join(scores))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["file", "ecg_id", "status", "reason"])


def run(args) -> int:
    from bench.base.errors import UsageError
    from bench.harness import model_store
    from bench.harness.tracking import client_for

    uri = resolve_paths(args).tracking_uri
    client = client_for(uri)
    if args.best:
        if not args.experiment or not args.task:
            raise UsageError("--best needs --experiment NAME and --task T")
        run_id, metric, value = model_store.best_run(client, args.experiment, args.task)
        print(f"bench predict: best {args.task} cell of {args.experiment}: run {run_id} "
              f"({metric} = {value:.4f})", file=sys.stderr)
    else:
        run_id = args.run
    model = model_store.load_run_model(client, run_id)  # a TrackedModelError is one line (bench.cli)
    files = ecg_files(args.paths)
    table = score_files(model, files, args.device)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    else:
        table.to_csv(sys.stdout, index=False)
    n_ok = int((table["status"] == "scored").sum())
    print(f"bench predict: {n_ok} of {len(table)} file(s) scored with run {run_id}"
          + (f"; {len(table) - n_ok} unreadable" if n_ok < len(table) else "")
          + (f"; wrote {args.out}" if args.out else ""), file=sys.stderr)
    return 0 if n_ok else 1
