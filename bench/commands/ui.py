"""`python -m bench ui [--port P]`: the MLflow UI on 127.0.0.1 over the results store."""
from __future__ import annotations

from bench.commands._common import add_store_options, resolve_paths


def register(sub) -> None:
    p = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 over the default store")
    add_store_options(p)
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(func=main)


def main(args) -> int:
    import os
    import sys

    store = resolve_paths(args)
    uri = store.tracking_uri
    store.results.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
           "--port", str(args.port)]
    if uri.startswith("sqlite:"):
        cmd += ["--default-artifact-root", (store.results.resolve() / "mlruns").as_uri()]
    print(f"MLflow UI on http://127.0.0.1:{args.port} (store {uri}); Ctrl-C stops it", flush=True)
    os.execv(sys.executable, cmd)
    return 0
