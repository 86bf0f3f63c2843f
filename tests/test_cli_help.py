"""`spikepipe ... --help`: every option says its default once, and its unit; the formatter's rules."""
from __future__ import annotations

import argparse
import re

import pytest

from simulator.cli import build_parser
from simulator.exits import OneLineParser

WORD_DEFAULT = re.compile(r"(?<![\w'])(?<!default: )default(?![\w'])", re.IGNORECASE)
"""A statement of a default: not 'default' (a choice's name) nor the value in "default: default"."""


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """`parser` and every subcommand's parser below it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


def _entries(text: str) -> dict[str, str]:
    """The help of each argument in `--help` output, keyed by its first option string or its metavar."""
    entries: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if re.match(r"  \S", line):
            invocation, _, rest = line.strip().partition("  ")
            current = re.split(r",? ", invocation)[0]
            entries[current] = [rest.strip()]
        elif current is not None and re.match(r"\s{3,}\S", line):
            entries[current].append(line.strip())
        else:
            current = None
    return {k: " ".join(filter(None, v)) for k, v in entries.items()}


def _key(action: argparse.Action) -> str:
    if action.option_strings:
        return action.option_strings[0]
    if action.metavar:
        return str(action.metavar)
    return "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest


def _arguments() -> list[tuple[str, argparse.Action, str]]:
    """(prog, action, its help as `--help` prints it) for every argument of every subcommand."""
    rows = []
    for parser in _parsers(build_parser()):
        entries = _entries(parser.format_help())
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            assert _key(action) in entries, (parser.prog, _key(action), list(entries))
            rows.append((parser.prog, action, entries[_key(action)]))
    return rows


@pytest.fixture(autouse=True)
def _wide(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line per help text, as argparse reads the terminal width


def test_every_default_is_shown_once() -> None:
    rows = _arguments()
    assert len({prog for prog, _, _ in rows}) == 13  # the walk reached every subcommand (data and machine verbs)
    for prog, action, text in rows:
        where = f"{prog} {_key(action)}: {text!r}"
        assert text, f"{where}: no help text"
        assert len(WORD_DEFAULT.findall(text)) <= 1, f"{where}: states a default twice"
        flag = action.nargs == 0
        if action.default is not None and not action.required and not flag:
            assert f"default: {action.default}" in text, f"{where}: does not show its default {action.default!r}"
        if flag or action.required:
            assert not WORD_DEFAULT.search(text), f"{where}: a flag or required argument has no default to show"


@pytest.mark.parametrize("prog,option,unit", [
    ("spikepipe cycles", "--batch", "samples"),
    ("spikepipe cycles", "--array", "processing elements"),
    ("spikepipe cycles", "--timesteps", "timesteps"),
    ("spikepipe cycles", "--dt", "seconds"),
    ("spikepipe schedule", "--procs", "processors"),
    ("spikepipe sweep", "--batches", "samples"),
    ("spikepipe sweep", "--minibatches", "mini-batches"),
    ("spikepipe simulate", "--minibatches", "mini-batches"),
    ("spikepipe simulate", "--bus-bandwidth", "bytes per cycle"),
    ("spikepipe simulate", "--bus-latency", "cycles per hop"),
    ("spikepipe simulate", "--plot-window", "cycles"),
    ("spikepipe simulate", "--train-subset", "samples"),
    ("spikepipe train", "--epochs", "passes over the training set"),
    ("spikepipe train", "--delays", "mini-batches"),
    ("spikepipe data generate", "--train", "samples"),
])
def test_help_says_the_unit(prog: str, option: str, unit: str) -> None:
    texts = {(p, _key(a)): text for p, a, text in _arguments()}
    assert unit in texts[(prog, option)], texts[(prog, option)]


def test_array_help_documents_the_square_shorthand() -> None:
    texts = {(p, _key(a)): text for p, a, text in _arguments()}
    for prog in ("cycles", "schedule", "simulate", "validate", "export"):
        assert "--array 32: 32x32" in texts[(f"spikepipe {prog}", "--array")], prog


def test_formatter_appends_a_default_only_where_none_is_stated() -> None:
    p = OneLineParser(prog="x")
    p.add_argument("--plain", type=int, default=4, help="a count")
    p.add_argument("--stated", default=None, help="a file (default: none written)")
    p.add_argument("--handwritten", type=int, default=2, help="a count (default 2)")
    p.add_argument("--choice", default="default", choices=("default", "other"), help="'default' or 'other'")
    p.add_argument("--flag", action="store_true", help="a switch")
    p.add_argument("--needed", required=True, help="a name")
    p.add_argument("--percent", type=float, default=10.0, help="a share in %%")
    sub = p.add_subparsers(dest="verb")
    sub.add_parser("go").add_argument("--n", type=int, default=3, help="repeats")
    entries = _entries(p.format_help())
    assert entries["--plain"] == "a count (default: 4)"
    assert entries["--stated"] == "a file (default: none written)"
    assert entries["--handwritten"] == "a count (default 2)"
    assert entries["--choice"] == "'default' or 'other' (default: default)"
    assert entries["--flag"] == "a switch" and entries["--needed"] == "a name"
    assert entries["--percent"] == "a share in % (default: 10.0)"
    assert _entries(sub.choices["go"].format_help())["--n"] == "repeats (default: 3)"  # subparsers inherit it
