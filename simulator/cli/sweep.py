"""`spikepipe sweep`: regenerate Table VII and Fig. 16-18 (every scheduler over P, batch and array)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.cli.common import output_file, positive_int_list, print_json, save_figure, table, write_csv
from simulator.paper import TABLE_VII_ARRAYS, TABLE_VII_BATCHES, TABLE_VII_PROCS
from simulator.reports import plot_sweep, sweep, table_vii
from simulator.schedule import SCHEDULERS
from workloads import ConfigError, load_network


def _csv(values: tuple[int, ...]) -> str:
    return ",".join(map(str, values))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="Table VII and Fig. 16-18: speedup of every scheduler over a grid",
                       description="Run every scheduler for each network, processor count, batch size and "
                                   "square array; print Table VII (mean speedup over batches and arrays, "
                                   "overhead) beside the published values; write CSV files and Fig. 16-18.")
    p.add_argument("--networks", default="mnist,nmnist,dvs128", help="comma-separated networks or files")
    p.add_argument("--procs", default=_csv(TABLE_VII_PROCS), help=f"processor counts (default {_csv(TABLE_VII_PROCS)})")
    p.add_argument("--batches", default=_csv(TABLE_VII_BATCHES), help=f"batch sizes (default {_csv(TABLE_VII_BATCHES)})")
    p.add_argument("--arrays", default=_csv(TABLE_VII_ARRAYS), help=f"square array sizes (default {_csv(TABLE_VII_ARRAYS)})")
    p.add_argument("--schedulers", default=",".join(SCHEDULERS), help="comma-separated schedulers (default all)")
    p.add_argument("--out", default="results/sweep", help="folder for CSV and PNG files (default results/sweep)")
    p.add_argument("--no-plots", action="store_true", help="write the CSV files only")
    p.add_argument("--json", action="store_true", help="print the Table VII rows as JSON")
    p.set_defaults(func=run)


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def run(args: argparse.Namespace) -> int:
    nets = [load_network(n.strip()) for n in args.networks.split(",") if n.strip()]
    if not nets:
        raise ConfigError("--networks: no network given")
    schedulers = [s.strip() for s in args.schedulers.split(",") if s.strip()]
    procs = positive_int_list(args.procs, "--procs")
    batches = positive_int_list(args.batches, "--batches")
    arrays = positive_int_list(args.arrays, "--arrays")
    out = Path(args.out)
    output_file(out / "points.csv", "--out")  # a folder: not a file, nor below one
    from tqdm import tqdm

    def progress(grid):
        return tqdm(grid, desc="sweep", unit="config", file=sys.stderr, disable=args.json or None, leave=False)

    points = sweep(nets, procs, batches, arrays, schedulers, progress)
    order = [net.name for net in nets]
    rows = sorted(table_vii(points), key=lambda r: (order.index(r.network), r.procs, schedulers.index(r.scheduler)))
    write_csv(out / "points.csv", ["network", "batch", "array", "procs", "scheduler", "cycles_per_update",
                                   "speedup", "bound", "overhead_bytes", "weight_overhead_bytes"],
              [(p.network, p.batch, p.array, p.procs, p.scheduler, p.cycles_per_update, f"{p.speedup:.6f}",
                f"{p.bound:.6f}", p.overhead_bytes, p.weight_overhead_bytes) for p in points])
    write_csv(out / "table_vii.csv", ["network", "procs", "scheduler", "mean_speedup", "std_speedup",
                                      "overhead_kb", "weight_overhead_kb", "published_speedup", "difference",
                                      "published_overhead_kb"],
              [(r.network, r.procs, r.scheduler, f"{r.mean_speedup:.4f}", f"{r.std_speedup:.4f}",
                f"{r.overhead_kb:.3f}", f"{r.weight_overhead_kb:.3f}", _fmt(r.published_speedup),
                _fmt(r.difference, "+.4f"), _fmt(r.published_overhead_kb)) for r in rows])
    figures = [] if args.no_plots else [save_figure(fig, out / f"{name}.png")
                                        for name, fig in plot_sweep(points).items()]
    if args.json:
        print_json([{"network": r.network, "procs": r.procs, "scheduler": r.scheduler,
                     "mean_speedup": r.mean_speedup, "std_speedup": r.std_speedup, "overhead_kb": r.overhead_kb,
                     "weight_overhead_kb": r.weight_overhead_kb, "published_speedup": r.published_speedup,
                     "difference": r.difference, "published_overhead_kb": r.published_overhead_kb}
                    for r in rows])
        return 0
    print(f"Table VII: mean speedup over batches {_csv(tuple(batches))} and arrays {_csv(tuple(arrays))} "
          f"(paper's published value and our difference where it has one)")
    by_key = {(r.network, r.procs, r.scheduler): r for r in rows}
    headers = ["Network", "P"]
    for name in schedulers:
        headers.append(name)
        if name in ("pipedream", "finegrained"):
            headers += ["paper", "diff"]
    show_overhead = "finegrained" in schedulers
    if show_overhead:
        headers += ["FG ovh KB", "FG weights KB", "paper KB"]
    lines = []
    for net, p in dict.fromkeys((r.network, r.procs) for r in rows):
        line = [net, str(p)]
        for name in schedulers:
            r = by_key[(net, p, name)]
            line.append(f"{r.mean_speedup:.2f}")
            if name in ("pipedream", "finegrained"):
                line += [_fmt(r.published_speedup), _fmt(r.difference, "+.2f")]
        if show_overhead:
            r = by_key[(net, p, "finegrained")]
            line += [f"{r.overhead_kb:,.1f}", f"{r.weight_overhead_kb:,.2f}", _fmt(r.published_overhead_kb)]
        lines.append(line)
    print(table(headers, lines, align="ll" + "r" * (len(headers) - 2)))
    print("FG ovh: bytes the fine-grained (Algorithm 1) schedule moves beyond its home placement (weights, "
          "spikes, state and gradients of split or moved slices); FG weights: the weight copies alone, the paper's notion. KB = 1000 bytes.")
    print("See docs/scheduling.md for our reading of Algorithm 1 and why the fine-grained column differs.")
    print(f"Wrote {out / 'table_vii.csv'}, {out / 'points.csv'}" + "".join(f", {f}" for f in figures))
    return 0
