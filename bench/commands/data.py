"""`python -m bench data synth|check|fetch`: generate the simulated cohort, inspect a cohort source, download PTB-XL."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("data", help="simulate a cohort, check a cohort source, fetch PTB-XL",
                       description="Cohort data: `synth` writes a simulated cohort folder (a valid folder: source), "
                                   "`check SOURCE` counts labels per split and lists quarantined files, `fetch ptbxl` "
                                   "downloads PTB-XL (resumable, SHA256SUMS checked).")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    s = dsub.add_parser("synth", help="write a simulated cohort: ECG files, labels.csv, oracle.csv")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--patients", type=int, required=True, help="number of patients (1-4 ECGs each)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=1, help="processes writing batches of ECGs")
    s.set_defaults(func=synth)
    c = dsub.add_parser("check", help="counts per label and split, quarantined files with reasons")
    c.add_argument("source", help="synthetic:N[,seed=S] | ptbxl:PATH | ptb:PATH | folder:PATH[,labels=CSV]")
    c.add_argument("--cache-dir", default=None, help="cache folder (default $BENCH_CACHE or results/cache)")
    c.add_argument("--json", action="store_true",
                   help="print one JSON object: n_in, n_used, n_quarantined, n_rate_fallback, quarantined files, "
                        "and per task the source can feed: n_ecgs, n_patients, positives per label")
    c.set_defaults(func=check)
    f = dsub.add_parser("fetch", help="download a public dataset (PhysioNet layout, resumable, SHA256SUMS checked)")
    f.add_argument("dataset", choices=["ptbxl"])
    f.add_argument("--to", required=True, help="destination folder")
    f.add_argument("--base-url", default=None, help="mirror URL (default: PhysioNet PTB-XL 1.0.3 files)")
    f.add_argument("--records", choices=["100", "500", "both"], default="both", help="which record rates to fetch")
    f.set_defaults(func=fetch)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def synth(args) -> int:
    import time

    from bench.data.simulator.files import write_cohort

    t = time.perf_counter()
    labels = write_cohort(args.out, args.patients, args.seed, workers=args.workers)
    dt = time.perf_counter() - t
    print(f"wrote {len(labels)} ECGs of {args.patients} patients to {args.out} in {dt:.1f} s "
          f"({len(labels) / dt:.0f} ECG/s); labels.csv, oracle.csv, simulator.json")
    return 0


def summarise(cohort) -> str:
    """Counts per label and split (patient-wise; PTB-XL uses its published folds)."""
    import numpy as np
    import pandas as pd

    from bench.harness.splits import patient_split

    r = cohort.records
    lines = [f"source {cohort.source}: {cohort.n_in} files in, {len(r)} used, {len(cohort.quarantine)} quarantined, "
             f"{r['patient_id'].nunique() if len(r) else 0} patients; fingerprint {cohort.fingerprint}"]
    if len(r) == 0:
        return "\n".join(lines)
    split = np.full(len(r), "all", dtype=object)
    if len(r["patient_id"].unique()) >= 5:
        sp = patient_split(r, fold_column="strat_fold" if "strat_fold" in r.columns else None)
        for name in ("train", "val", "test"):
            split[getattr(sp, name)] = name
    r = r.assign(_split=split)
    rows = []
    def add(label, mask):
        rows.append({"label": label, **{s: int((mask & (r["_split"] == s)).sum()) for s in sorted(set(split))}})
    if "af_event" in r:
        add("af: usable", r["af_event"].notna())
        add("af: prevalent", r["prevalent_af"] == 1)
        add("af: incident event", (r["af_event"] == 1) & (r["prevalent_af"] != 1))
    if "af_in_statement" in r:
        add("af_in_statement = 1", r["af_in_statement"] == 1)
    if "lvef" in r:
        add("lvef: measured", r["lvef"].notna())
        add("lvef <= 40", r["lvef"] <= 40)
    if "mi" in r:
        add("mi: labelled", r["mi"].notna())
        add("mi = 1", r["mi"] == 1)
        for t in sorted(set(r["mi_territory"].dropna()) - {""}):
            add(f"mi territory {t}", r["mi_territory"] == t)
    for c in [c for c in r.columns if c.startswith("superclass_")]:
        add(f"superclass {c.removeprefix('superclass_')}", r[c] == 1)
    if "af" in r:
        add("af (AFIB/AFLT) = 1", r["af"] == 1)
    if "records_note" in r:
        add("read at the other rate", r["records_note"] != "")
    if "sex" in r:
        add("male", r["sex"] == 1)
    add("ECGs", pd.Series(True, index=r.index))
    lines.append(pd.DataFrame(rows).to_string(index=False))
    if cohort.oracle is not None:
        lines.append(f"oracle: {cohort.oracle.shape[1] - 1} columns (mean P(LVEF<=40) "
                     f"{cohort.oracle['oracle_p_lvef'].mean():.3f}, mean P(MI) {cohort.oracle['oracle_p_mi'].mean():.3f})")
    if len(cohort.quarantine):
        lines.append("quarantined:")
        lines.append(cohort.quarantine.to_string(index=False))
    return "\n".join(lines)


def task_counts(cohort) -> dict[str, dict]:
    """Per registered task whose `sources` include the cohort's scheme: ECGs and patients it uses, positives."""
    from tasks import TASKS

    scheme = cohort.source.partition(":")[0]
    r = cohort.records
    out = {}
    for name in TASKS.names():
        task = TASKS.get(name)()
        if scheme not in task.sources:
            continue
        used = r.loc[task.select(r)] if len(r) else r
        out[name] = {"n_ecgs": int(len(used)),
                     "n_patients": int(used["patient_id"].nunique()) if len(used) else 0,
                     "positives": task.positives(used.reset_index(drop=True)) if len(used) else {}}
    return out


def check_json(cohort) -> dict:
    """`data check --json`: n_in = n_used + n_quarantined always."""
    r = cohort.records
    return {"source": cohort.source, "fingerprint": cohort.fingerprint, "n_in": int(cohort.n_in),
            "n_used": int(len(r)), "n_quarantined": int(len(cohort.quarantine)),
            "n_rate_fallback": int((r["records_note"] != "").sum()) if "records_note" in r else 0,
            "quarantined": cohort.quarantine.astype(str).to_dict(orient="records"),
            "tasks": task_counts(cohort)}


def check(args) -> int:
    from bench.base.cohort import load_cohort
    from bench.base.errors import BenchError

    try:
        cohort = load_cohort(args.source, cache_dir=args.cache_dir)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        import json

        print(json.dumps(check_json(cohort), indent=1))
    else:
        print(summarise(cohort))
    return 0


def fetch(args) -> int:
    from bench.base.errors import BenchError
    from bench.data.sources.fetch import PTBXL_URL, fetch_physionet

    try:
        n = fetch_physionet(args.base_url or PTBXL_URL, args.to, records=args.records)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: {n} files present and verified in {args.to}")
    return 0
