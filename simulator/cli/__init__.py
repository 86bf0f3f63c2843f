"""The `spikepipe` command: one subcommand module per job, each with `--json`.

Each module in `SUBCOMMANDS` exposes `register(subparsers)`, which adds its
parser and sets `func(args) -> int`. Bad user input raises `ConfigError`,
printed here as one line (exit 2), never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from workloads import ConfigError

SUBCOMMANDS = ("cycles", "schedule", "sweep", "simulate", "validate", "train", "data", "machine", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikepipe",
        description="Cycle-accurate simulator for pipelined SNN training on systolic-array multiprocessors.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"simulator.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"spikepipe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"spikepipe {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
