"""Helpers shared by the subcommands: common options, text tables, JSON output, files written atomically."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence, TextIO

from simulator.cost import ArrayConfig
from workloads import ConfigError, Network, load_network
from workloads.datasets.store import DEFAULT_DIR, ENV_VAR
from workloads.files import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NETWORK_HELP = "built-in network (mnist, nmnist, dvs128), a .toml/.json file, a NIR .nir file or a SCALE-Sim .csv topology"


ARRAY_HELP = "systolic array: ROWSxCOLS processing elements, or N for a square NxN array (--array 32: 32x32)"
BATCH_HELP = "mini-batch size, samples"
OPTIMIZER_HELP = "optimizer of the weights"
LR_HELP = "learning rate, the optimizer's step size"
ENCODING_HELP = ("how images enter the network: current (the pixel values as a constant input current at every "
                 "timestep) or rate (rate-coded spikes); event frames need none")


def add_network_options(parser: argparse.ArgumentParser, default: str | None = "mnist",
                        array: str | None = "32x32") -> None:
    """--network (with --timesteps, --dt), --array, --batch, --json: the options nearly every subcommand
    takes (`array=None`: --array defaults to None, the machine's array)."""
    parser.add_argument("--network", default=default, required=default is None, help=NETWORK_HELP)
    add_network_file_options(parser)
    parser.add_argument("--array", default=array,
                        help=ARRAY_HELP + ("" if array else " (default: the machine's)"))
    parser.add_argument("--batch", type=int, default=1, help=BATCH_HELP)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")


def add_network_file_options(parser: argparse.ArgumentParser) -> None:
    """--timesteps and --dt: what NIR and SCALE-Sim files do not say (docs/nir.md, docs/scalesim.md)."""
    parser.add_argument("--timesteps", type=int, default=None, metavar="T",
                        help="timesteps T per sample: needed by a .csv and by a .nir without it in its metadata; "
                             "overrides any network's T (default: the network's)")
    parser.add_argument("--dt", type=float, default=None, metavar="SECONDS",
                        help="seconds per timestep, to discretise a .nir network's neurons (default: its metadata)")


DATA_DIR_DEFAULT = f"${ENV_VAR} or {DEFAULT_DIR}"


def add_data_dir_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                        help: str = f"data directory (default: {DATA_DIR_DEFAULT})") -> None:
    """--data-dir: where every command that reads a dataset looks for it (`workloads.datasets.data_root`)."""
    parser.add_argument("--data-dir", metavar="DIR", default=None, help=help)


def add_pool_options(parser: argparse.ArgumentParser) -> None:
    """--workers or --dask: where a grid's points run (`simulator.experiments.executors.open_pool`)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="local worker processes (default: every core; 1 runs the points in this process)")
    where.add_argument("--dask", metavar="ADDRESS", default=None,
                       help="Dask scheduler address, or 'local' / 'local:N' for a cluster on this machine "
                            "(default: $DASK_SCHEDULER_ADDRESS if --workers is not given)")


def network_arg(args: argparse.Namespace) -> Network:
    """The network `--network` names, read with `--timesteps` and `--dt`."""
    return load_network(args.network, timesteps=args.timesteps, dt=args.dt)


def network_and_array(args: argparse.Namespace) -> tuple[Network, ArrayConfig]:
    if args.batch < 1:
        raise ConfigError(f"--batch must be a positive integer, got {args.batch}")
    return network_arg(args), ArrayConfig.parse(args.array)


def seed(text: str) -> int:
    """argparse type of --seed: a non-negative integer (numpy's generators take no negative seed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


def human_stream(args: argparse.Namespace) -> TextIO:
    """Where a subcommand's human lines go: stderr under --json (stdout holds the one JSON document)."""
    return sys.stderr if getattr(args, "json", False) else sys.stdout


def output_file(text: str | Path, option: str) -> Path:
    """An output file name, checked before any work: not an existing directory, nor below a file."""
    path = Path(text)
    if path.is_dir():
        raise ConfigError(f"{option}: {str(path)!r} is a directory; give a file name")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{option}: {str(parent)!r} is a file, so {str(path)!r} cannot be written below it")
    return path


def positive_int_list(text: str, what: str) -> list[int]:
    """Parse '1,2,4' into [1, 2, 4], each a positive integer."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a comma-separated list of integers") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"{what}: values must be positive integers, got {text!r}")
    return values


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A plain aligned text table; numbers are right-aligned and thousands-separated."""
    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            return f"{v:,.2f}"
        return str(v)

    cells = [[fmt(v) for v in row] for row in rows]
    align = align or "".join("r" if rows and isinstance(rows[0][i], (int, float)) else "l"
                             for i in range(len(headers)))
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if a == "r" else v.ljust(w)
                         for v, w, a in zip(values, widths, align)).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in cells])


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def megabytes(n: float) -> str:
    return f"{n / 1e6:,.3f} MB"


def figure_formats() -> tuple[str, ...]:
    """The suffixes matplotlib can save a figure as (.png, .svg, .pdf, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(f".{name}" for name in sorted(FigureCanvasBase.get_supported_filetypes()))


def figure_path(text: str | Path, option: str = "--plot") -> Path:
    """A figure file name whose suffix says the format, one matplotlib can write; checked before any work."""
    path = output_file(text, option)
    if path.suffix.lower() not in figure_formats():
        raise ConfigError(f"{option}: {str(path)!r} must end in one of {', '.join(figure_formats())}")
    return path


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write `fig` at its own dpi to `path` (format from the suffix) through a temporary file."""
    path = figure_path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix[1:].lower(), dpi="figure")
    return path


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write a CSV file atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)
