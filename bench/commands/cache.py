"""`python -m bench cache info|clear`: what the representation cache holds, and removing entries (with the cohort
signal matrices and what interrupted builds left behind)."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("cache", help="representation cache: list entries (info) or remove them (clear)",
                       description="Representations are computed once per cohort and parameters and memory-mapped "
                                   "from <cache dir>/representations/. info lists entries (name = "
                                   "<representation>-<key>, parameters, cohort fingerprint, shape, size); clear "
                                   "removes all of them, the cohort signal matrices (<cache dir>/signals/) and the "
                                   "temporary files of builds whose process died, or only the entries whose name, "
                                   "cohort fingerprint or signals key matches a glob.")
    p.add_argument("action", choices=("info", "clear"))
    p.add_argument("pattern", nargs="?", default=None,
                   help="glob on entry name or cohort fingerprint, e.g. 'image-*' (default: every entry)")
    p.add_argument("--dir", default=None, help="cache dir (default: $BENCH_CACHE, else <results>/cache)")
    p.add_argument("--json", action="store_true", help="info as JSON")
    p.set_defaults(func=main)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def main(args) -> int:
    from fnmatch import fnmatch

    from bench.harness import cache

    root = cache.cache_root(args.dir)
    if args.action == "clear":
        removed, freed = cache.clear(args.dir, args.pattern)
        for name in removed:
            print(f"removed {name}")
        print(f"{len(removed)} entries removed from {root}, {_mb(freed)} freed")
        return 0
    entries = [e for e in cache.list_entries(args.dir)
               if args.pattern is None or fnmatch(e["name"], args.pattern) or fnmatch(str(e["cohort"]), args.pattern)]
    if args.json:
        print(json.dumps(entries, indent=1))
        return 0
    print(f"cache dir {root}: {len(entries)} representation entries, {_mb(sum(e['bytes'] for e in entries))}")
    for e in entries:
        params = ",".join(f"{k}={v}" for k, v in sorted((e["params"] or {}).items()))
        train = f" train={e['train']}" if e["train"] else ""
        print(f"  {e['name']}  {_mb(e['bytes'])}  shape={tuple(e['shape'])} {e['dtype']}  cohort={e['cohort']}{train}"
              f"  built {e['created']} in {e['build_s']:.1f} s ({e['repr_ms_per_ecg']:.2f} ms/ECG)\n      {params}")
    return 0
