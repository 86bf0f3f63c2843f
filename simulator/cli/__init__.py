"""The `spikepipe` command: one subcommand module per job, each with `--json`.

Each module in `SUBCOMMANDS` exposes `register(subparsers)`, which adds its
parser and sets `func(args) -> int`. Every failure (bad input, an OS error,
Ctrl-C, a defect) ends as one line on stderr and an exit code, never a
traceback (`simulator.exits.run_guarded`; the codes are listed in README.md).
With `--json`, stdout holds exactly one JSON document; everything else goes
to stderr.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata

from simulator.exits import Exit, OneLineParser, run_guarded

SUBCOMMANDS = ("cycles", "schedule", "sweep", "simulate", "validate", "train", "data", "machine", "export", "explore")


def _version() -> str:
    """The installed distribution's version (setup.cfg), or 'unknown' when run from a bare checkout."""
    try:
        return metadata.version("spikepipe")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="spikepipe",
        description="Cycle-accurate simulator for pipelined SNN training on systolic-array multiprocessors.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"simulator.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `spikepipe` with `argv` (default: the process's arguments) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed as one line
        return exc.code if isinstance(exc.code, int) else Exit.BAD_INPUT
    return run_guarded(f"spikepipe {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
