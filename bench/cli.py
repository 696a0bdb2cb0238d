"""`python -m bench ...`: a few subcommands, each in its own module under `bench/commands/`.

A command module defines `register(subparsers)` which adds its parser and sets `func(args) -> exit status`.
Heavy imports (torch, mlflow) happen inside the command functions, so `--help` is instant.

Every error a user can cause (a bad flag, grid, source, path) prints one line, `bench: error: <message>`, on stderr
and exits non-zero: 2 for usage and configuration errors, 1 for the rest; `--debug` shows the traceback instead.
A closed pipe (`python -m bench list | head -1`) ends the command quietly.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import bench
import bench.commands

PROG = "bench"
#: Exit status of a configuration error (argparse's own for a usage error).
EXIT_USAGE = 2
#: Exit status after a closed pipe: 128 + SIGPIPE, as a shell reports a command a closed pipe killed.
EXIT_PIPE = 141


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return status


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (`bench: error: ...`, exit 2), like every other error."""

    def error(self, message: str):
        raise SystemExit(_fail(f"{message} (see {self.prog} --help)", EXIT_USAGE))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="ECG RepBench: tasks x representations x models, tracked in MLflow.",
    )
    parser.add_argument("--version", action="version", version=f"ecg-repbench {bench.__version__}")
    parser.add_argument("--debug", action="store_true", help="on an error, show the whole traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(bench.commands.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"bench.commands.{mod.name}").register(sub)
    return parser


def _exit_status(error: BaseException) -> int | None:
    """Exit status for an error the user caused (None: a bug, shown with its traceback)."""
    from bench.base.errors import (BenchError, CohortError, ExecutorError, GridError, ReportError, TrackedModelError,
                                   TrackingError, UsageError)
    from bench.base.registry import RegistryError

    if isinstance(error, (UsageError, GridError, CohortError, ExecutorError, ReportError, RegistryError,
                          TrackedModelError, TrackingError)):
        return EXIT_USAGE
    if isinstance(error, (BenchError, OSError)):
        return 1
    return None


def _quiet_closed_pipe() -> int:
    """stdout's reader went away: point stdout at /dev/null so the interpreter's final flush stays quiet too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (captured): nothing left to flush
        pass
    return EXIT_PIPE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return _quiet_closed_pipe()
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one line for what the user can fix; a bug keeps its traceback
        status = _exit_status(e)
        if status is None or args.debug:
            raise
        return _fail(str(e) or type(e).__name__, status)


if __name__ == "__main__":
    sys.exit(main())
