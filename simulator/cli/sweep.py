"""`spikepipe sweep`: regenerate Table VII and Fig. 16-18 (every scheduler over P, batch and array).

A thin user of the experiment runner: the grid (`sweep_experiment`) runs resumably into
OUT/results.jsonl on a local process pool (`--workers`, 1: in this process) or a Dask cluster
(`--dask`); the table and figures are made from its records.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from simulator.cli.common import (add_pool_options, output_file, positive_int_list, print_json, save_figure, table,
                                  write_csv)
from simulator.cost import ArrayConfig
from simulator.experiments import run as run_experiment
from simulator.machine import load_machine
from simulator.paper import TABLE_VII_ARRAYS, TABLE_VII_BATCHES, TABLE_VII_PROCS
from simulator.reports import (on_paper_grid, plot_sweep, skipped_figures, sweep_experiment, sweep_points,
                               table_vii)
from simulator.reports.baselines import SYNC_SCHEDULERS
from simulator.schedule import MACHINE_BLIND, SCHEDULERS
from workloads import ConfigError, load_network


def _csv(values: tuple[int, ...]) -> str:
    return ",".join(map(str, values))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="Table VII and Fig. 16-18: speedup of every scheduler over a grid",
                       description="Run every scheduler for each network, processor count, batch size and "
                                   "array; print Table VII (mean speedup over batches and arrays, overhead) "
                                   "beside the published values on the paper's grid; on a physical machine the "
                                   "speedups are simulated. Writes CSV files, Fig. 16-18 and the runner's "
                                   "results.jsonl (a rerun into the same --out resumes).")
    p.add_argument("--networks", default="mnist,nmnist,dvs128",
                   help="comma-separated built-in networks or network files")
    p.add_argument("--procs", default=_csv(TABLE_VII_PROCS), help="processor counts P, comma-separated")
    p.add_argument("--batches", default=_csv(TABLE_VII_BATCHES), help="mini-batch sizes, samples, comma-separated")
    p.add_argument("--arrays", default=_csv(TABLE_VII_ARRAYS),
                   help="systolic arrays, comma-separated: ROWSxCOLS processing elements or one number N for NxN, "
                        "e.g. 16x64,32")
    p.add_argument("--machine", default="ideal", metavar="NAME|FILE",
                   help="machine preset or TOML file; ideal is analytic (the paper's Table VII), any other is "
                        "simulated in the DES")
    p.add_argument("--schedulers", default=None,
                   help=f"comma-separated, from {', '.join((*SCHEDULERS, *SYNC_SCHEDULERS))} (default: "
                        f"{', '.join(MACHINE_BLIND)}; and machine-optimal on a physical machine)")
    p.add_argument("--micro-batches", type=int, default=1,
                   help="micro-batches per mini-batch of the synchronous baselines")
    p.add_argument("--minibatches", type=int, default=32, help="mini-batches per DES run")
    add_pool_options(p)
    p.add_argument("--out", default="results/sweep", help="folder for results.jsonl, CSV and PNG files")
    p.add_argument("--no-plots", action="store_true", help="write the CSV files only")
    p.add_argument("--json", action="store_true", help="print the Table VII rows as JSON")
    p.set_defaults(func=run)


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _arrays(text: str) -> list[ArrayConfig]:
    arrays = [ArrayConfig.parse(a.strip()) for a in text.split(",") if a.strip()]
    if not arrays:
        raise ConfigError(f"--arrays: no array given in {text!r}")
    return arrays


def run(args: argparse.Namespace) -> int:
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    if not networks:
        raise ConfigError("--networks: no network given")
    nets = [load_network(n) for n in networks]
    procs = positive_int_list(args.procs, "--procs")
    batches = positive_int_list(args.batches, "--batches")
    arrays = _arrays(args.arrays)
    ideal = load_machine(args.machine).ideal
    default = MACHINE_BLIND if ideal else (*MACHINE_BLIND, "machine-optimal")
    schedulers = [s.strip() for s in (args.schedulers or ",".join(default)).split(",") if s.strip()]
    out = Path(args.out)
    output_file(out / "points.csv", "--out")  # a folder: not a file, nor below one
    experiment = sweep_experiment(networks, procs, batches, arrays, schedulers, args.machine,
                                  args.minibatches, args.micro_batches)
    outcome = run_experiment(experiment, out / "results.jsonl", workers=args.workers, dask=args.dask,
                             progress=not args.json)
    got = sweep_points(outcome.records)
    points, simulated = got.points, experiment.kind == "des"
    if not points:
        raise ConfigError(f"sweep: no point succeeded; first error: {got.failed[0].error if got.failed else '-'}")
    order = [net.name for net in nets]
    rows = sorted(table_vii(points), key=lambda r: (order.index(r.network), r.procs, schedulers.index(r.scheduler)))
    off_grid = on_paper_grid(batches, arrays) or (None if ideal else f"machine {args.machine} is not the paper's")
    paper = off_grid is None
    write_csv(out / "points.csv", ["network", "batch", "array", "procs", "scheduler", "cycles_per_update",
                                   "speedup", "bound", "overhead_bytes", "weight_overhead_bytes",
                                   "seconds_per_sample", "energy_per_sample_j"],
              [(p.network, p.batch, p.array, p.procs, p.scheduler, p.cycles_per_update, f"{p.speedup:.6f}",
                _fmt(p.bound, ".6f"), _fmt(p.overhead_bytes, "d"), _fmt(p.weight_overhead_bytes, "d"),
                _fmt(p.seconds_per_sample, ".6e"), _fmt(p.energy_per_sample, ".6e")) for p in points])
    write_csv(out / "table_vii.csv", ["network", "procs", "scheduler", "mean_speedup", "std_speedup",
                                      "overhead_kb", "weight_overhead_kb", "published_speedup", "difference",
                                      "published_overhead_kb", "seconds_per_sample", "energy_per_sample_j"],
              [(r.network, r.procs, r.scheduler, f"{r.mean_speedup:.4f}", f"{r.std_speedup:.4f}",
                _fmt(r.overhead_kb, ".3f"), _fmt(r.weight_overhead_kb, ".3f"),
                _fmt(r.published_speedup if paper else None), _fmt(r.difference if paper else None, "+.4f"),
                _fmt(r.published_overhead_kb if paper else None), _fmt(r.seconds_per_sample, ".6e"),
                _fmt(r.energy_per_sample, ".6e")) for r in rows])
    figures = [] if args.no_plots else [save_figure(fig, out / f"{name}.png")
                                        for name, fig in plot_sweep(points).items()]
    if args.json:
        print_json([{"network": r.network, "procs": r.procs, "scheduler": r.scheduler,
                     "mean_speedup": r.mean_speedup, "std_speedup": r.std_speedup, "overhead_kb": r.overhead_kb,
                     "weight_overhead_kb": r.weight_overhead_kb,
                     "published_speedup": r.published_speedup if paper else None,
                     "difference": r.difference if paper else None,
                     "published_overhead_kb": r.published_overhead_kb if paper else None,
                     "seconds_per_sample": r.seconds_per_sample, "energy_per_sample": r.energy_per_sample}
                    for r in rows])
        return 0
    what = (f"simulated on machine {args.machine} (DES, {args.minibatches} mini-batches: total cycles over "
            f"simulated cycles per update)" if simulated else "analytic, ideal machine")
    print(f"Table VII: mean speedup (x) per scheduler over batches {_csv(tuple(batches))} and arrays "
          f"{','.join(map(str, arrays))}, {what}" + (" (paper's published value and our difference)" if paper else ""))
    by_key = {(r.network, r.procs, r.scheduler): r for r in rows}
    shown = [name for name in schedulers if any(key[2] == name for key in by_key)]
    headers = ["Network", "P"]
    for name in shown:
        headers.append(name)
        if paper and name in ("pipedream", "finegrained"):
            headers += ["paper", "diff"]
    show_overhead = "finegrained" in shown and not simulated
    if show_overhead:
        headers += ["FG ovh KB", "FG weights KB"] + (["paper KB"] if paper else [])
    lines = []
    for net, p in dict.fromkeys((r.network, r.procs) for r in rows):
        line = [net, str(p)]
        for name in shown:
            r = by_key.get((net, p, name))
            line.append("-" if r is None else f"{r.mean_speedup:.2f}")
            if paper and name in ("pipedream", "finegrained"):
                line += ["-", "-"] if r is None else [_fmt(r.published_speedup), _fmt(r.difference, "+.2f")]
        if show_overhead:
            r = by_key.get((net, p, "finegrained"))
            line += ["-", "-"] if r is None else [f"{r.overhead_kb:,.1f}", f"{r.weight_overhead_kb:,.2f}"]
            if paper:
                line.append("-" if r is None else _fmt(r.published_overhead_kb))
        lines.append(line)
    print(table(headers, lines, align="ll" + "r" * (len(headers) - 2)))
    if simulated:
        print(table(["Network", "P", "scheduler", "us per sample", "uJ per sample"],
                    [[r.network, str(r.procs), r.scheduler, _fmt(None if r.seconds_per_sample is None
                                                                 else r.seconds_per_sample * 1e6, ".3f"),
                      _fmt(None if r.energy_per_sample is None else r.energy_per_sample * 1e6, ".3f")]
                     for r in rows], align="lll" + "rr"))
        print("Synchronous baselines (no delays) have no energy model: '-'.")
    if show_overhead:
        print("FG ovh: bytes the fine-grained (Algorithm 1) schedule moves beyond its home placement (weights, "
              "spikes, state and gradients of split or moved slices); FG weights: the weight copies alone, the "
              "paper's notion. KB = 1000 bytes.")
    if paper:
        print("See docs/scheduling.md for our reading of Algorithm 1 and why the fine-grained column differs.")
    else:
        print(f"Paper's columns left out: {off_grid}.")
    if got.beyond_slices:
        print(f"{got.beyond_slices} points skipped: P above the configuration's task slices.")
    for rec in got.failed:
        print(f"point {rec.params['network']} batch {rec.params['batch']} {rec.params['array']} "
              f"P = {rec.params['procs']} {rec.params['scheduler']} skipped: {rec.error}")
    if not args.no_plots:
        for reason in skipped_figures(points):
            print(reason)
    print(f"Wrote {out / 'table_vii.csv'}, {out / 'points.csv'}, {out / 'results.jsonl'}"
          + "".join(f", {f}" for f in figures))
    return 0
