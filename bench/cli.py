"""`python -m bench ...`: a few subcommands, each in its own module under `bench/commands/`.

A command module defines `register(subparsers)` which adds its parser and sets `func(args) -> exit status`.
Heavy imports (torch, mlflow) happen inside the command functions, so `--help` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import bench
import bench.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="ECG RepBench: tasks x representations x models, tracked in MLflow.",
    )
    parser.add_argument("--version", action="version", version=f"ecg-repbench {bench.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(bench.commands.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"bench.commands.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
