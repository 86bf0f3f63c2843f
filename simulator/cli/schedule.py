"""`spikepipe schedule`: map one network's training tasks onto P processors and show the schedule."""
from __future__ import annotations

import argparse

from simulator.cli.common import add_network_options, figure_path, network_and_array, print_json, save_figure, table
from simulator.cost import network_cost
from simulator.schedule import SCHEDULERS, make_schedule
from simulator.reports import plot_schedule
from simulator.schedule.summary import schedule_dict

BOUND_EQUATION = {"layerwise": "eq. 30", "pipedream": "eq. 31", "split": "eq. 32", "finegrained": "eq. 33",
                  "compute-optimal": "eq. 33", "machine-optimal": "eq. 33"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="schedule the tasks of one weight update onto P processors",
                       description="Map FP, WG and IG of every layer onto a pipeline of P systolic-array "
                                   "processors (Section V) and print the schedule map, cycles per update, "
                                   "speedup, its bound, gradient delays and communication.")
    add_network_options(p)
    p.add_argument("--procs", type=int, default=4, help="number of processors P")
    p.add_argument("--scheduler", default="finegrained",
                   help=f"one of {', '.join(SCHEDULERS)}")
    p.add_argument("--plot", metavar="FILE", help="draw the schedule map to FILE (.png, .svg or .pdf)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    net, array = network_and_array(args)
    plot = figure_path(args.plot) if args.plot else None
    cost = network_cost(net, array, args.batch)
    s = make_schedule(args.scheduler, cost, args.procs)
    if plot:
        save_figure(plot_schedule(s), plot)
    if args.json:
        print_json(schedule_dict(s))
        return 0
    print(f"Network {net.name}, array {array}, batch {args.batch}: {args.scheduler} schedule on P = {s.procs}"
          + (f" ({s.procs_used} used; idle processors are no pipeline stages)" if s.procs_used < s.procs else ""))
    rows = [(f"P{p}", load, f"{100 * idle:.1f}", " ".join(x.label for x in slices) or "(idle)")
            for p, (load, idle, slices) in enumerate(zip(s.loads, s.idle_share, s.processors))]
    print(table(["Proc", "Load cycles", "Idle %", "Slices"], rows, align="rrrl"))
    print(f"Cycles per weight update: {s.cycles_per_update:,} (one processor: {cost.total:,})")
    print(f"Speedup: {s.speedup:.2f}x (bound {BOUND_EQUATION[s.scheduler]}: {s.bound:.2f}; at most P = {s.procs})")
    names = [layer.name for layer in net.compute_layers()]
    print("Gradient delays: " + ", ".join(f"{n} {d}" for n, d in zip(names, s.delays)))
    if s.procs > 1:
        print(table(["Boundary", "Bytes / mini-batch", "of which overhead, bytes"],
                    [(f"P{b}|P{b + 1}", total, extra)
                     for b, (total, extra) in enumerate(zip(s.boundary_bytes, s.boundary_overhead_bytes))],
                    align="lrr"))
    print(f"Overhead of tasks placed away from their layer's weight gradient: {s.overhead_bytes:,} bytes "
          f"per mini-batch, of which weight copies {s.weight_overhead_bytes:,}")
    if plot:
        print(f"Schedule map written to {plot}")
    return 0
