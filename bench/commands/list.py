"""`python -m bench list [--grid G] [--json]`: registered entries, a grid's cells with status, skipped pairs."""
from __future__ import annotations

import json
import sys

from bench.commands._common import add_store_options, resolve_paths


def register(sub) -> None:
    p = sub.add_parser("list", help="registered tasks/representations/models; a grid's cells and their status",
                       description="Without --grid: every registered task, representation and model. With --grid: "
                                   "also the grid's cells with status (done, failed, pending, read from MLflow) "
                                   "and the incompatible pairs skipped, with the reason.")
    p.add_argument("--grid", default=None, help="grid name or TOML path")
    add_store_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=main)


def registered() -> dict:
    from models import MODELS
    from representations import REPRESENTATIONS
    from tasks import TASKS

    return {
        "tasks": [{"name": e.name, "heads": e.info.get("heads"), "primary_metric": e.info.get("primary_metric")}
                  for e in TASKS],
        "representations": [{"name": e.name, "kind": e.info["kind"]} for e in REPRESENTATIONS],
        "models": [{"name": e.name, "accepts": list(e.info["accepts"])} for e in MODELS],
    }


def main(args) -> int:
    from bench.harness.driver import grid_state, print_table
    from bench.harness.grid import builtin_grids, load_grid

    out = registered()
    out["grids"] = builtin_grids()
    if args.grid:
        grid = load_grid(args.grid)  # checked whole before the store is touched
        store = resolve_paths(args)
        store.results.mkdir(parents=True, exist_ok=True)
        st = grid_state(grid, store.tracking_uri, store.results)
        out["cells"] = [{"cell": c.label, "task": c.task.id, "representation": c.representation.id,
                         "model": c.model.id, "seed": c.seed, "key": st.keys[c.label], "status": st.status[c.label]}
                        for c in st.cells]
        out["skipped"] = [{"task": s.task, "representation": s.representation, "model": s.model,
                           "reason": s.reason} for s in st.skipped]
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    print("tasks:           " + ", ".join(f"{t['name']} ({t['primary_metric']})" for t in out["tasks"]))
    print("representations: " + ", ".join(f"{r['name']} [{r['kind']}]" for r in out["representations"]))
    print("models:          " + ", ".join(f"{m['name']} [{'/'.join(m['accepts'])}]" for m in out["models"]))
    print("grids:           " + ", ".join(out["grids"]))
    if args.grid:
        print()
        # the cell label tells apart cells that share task, representation, model and seed (folds, training
        # sizes, the two splits of a leak grid)
        print_table(["cell", "status", "key"], [(c["cell"], c["status"], c["key"]) for c in out["cells"]])
        if out["skipped"]:
            print("\nskipped (incompatible):")
            for s in out["skipped"]:
                print(f"  {s['task']}/{s['representation']}/{s['model']}: {s['reason']}")
    return 0
