"""`spikepipe simulate`: run schedules on the virtual multiprocessor (discrete-event model)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from simulator.cli.common import add_network_options, network_and_array, print_json, table
from simulator.cost import network_cost
from simulator.des import BusConfig, SimResult, simulate
from simulator.des.report import plot_gantt, write_trace
from simulator.schedule import SCHEDULERS, make_schedule
from workloads import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate", help="execute schedules on P processors joined by a bus (discrete-event)",
        description="Execute the task graph a scheduler produced on a virtual machine of P systolic-array "
                    "processors joined by an interconnect bus, for N mini-batches, and report steady-state "
                    "cycles per weight update, fill latency, utilization and bus traffic.")
    add_network_options(p)
    p.add_argument("--procs", type=int, default=4, help="number of processors P (default 4)")
    p.add_argument("--scheduler", default="all", help=f"all or one of {', '.join(SCHEDULERS)} (default all)")
    p.add_argument("--minibatches", type=int, default=64, help="mini-batches to run (default 64)")
    p.add_argument("--bus-bandwidth", default="inf", help="bytes per cycle per link, or inf (default inf)")
    p.add_argument("--bus-latency", type=int, default=0, help="cycles per transfer per link (default 0)")
    p.add_argument("--shared-bus", action="store_true", help="one bus shared by all transfers (they contend)")
    p.add_argument("--no-overlap", action="store_true",
                   help="no double buffering: a processor waits for its outgoing transfers")
    p.add_argument("--trace", metavar="FILE.json", help="write a Chrome trace-event file (open in Perfetto)")
    p.add_argument("--plot", metavar="FILE.png", help="write a Gantt chart of a window of mini-batches")
    p.set_defaults(func=run)


def _bandwidth(text: str) -> float:
    if text.strip().lower() in ("inf", "infinite", "infinity"):
        return math.inf
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--bus-bandwidth must be a number of bytes per cycle or inf, got {text!r}") from None


def _per_scheduler(path: str, name: str, several: bool) -> Path:
    """FILE.json -> FILE-NAME.json when several schedulers are simulated."""
    p = Path(path)
    return p.with_name(f"{p.stem}-{name}{p.suffix}") if several else p


def run(args: argparse.Namespace) -> int:
    net, array = network_and_array(args)
    if args.procs < 1:
        raise ConfigError(f"--procs must be at least 1, got {args.procs}")
    names = list(SCHEDULERS) if args.scheduler == "all" else [args.scheduler]
    if args.scheduler != "all" and args.scheduler not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler {args.scheduler!r}; use all or one of {', '.join(SCHEDULERS)}")
    bus = BusConfig(_bandwidth(args.bus_bandwidth), args.bus_latency, args.shared_bus, not args.no_overlap)
    cost = network_cost(net, array, args.batch)
    tracing = bool(args.trace or args.plot)
    results: list[SimResult] = []
    for name in names:
        result = simulate(make_schedule(name, cost, args.procs), args.minibatches, bus, trace=tracing)
        results.append(result)
        if args.trace:
            write_trace(result, _per_scheduler(args.trace, name, len(names) > 1))
        if args.plot:
            plot_gantt(result, _per_scheduler(args.plot, name, len(names) > 1))
    if args.json:
        print_json([r.as_dict() for r in results])
        return 0
    bw = "inf" if math.isinf(bus.bandwidth) else f"{bus.bandwidth:g} B/cycle"
    print(f"Network {net.name}, array {array}, batch {args.batch}, P = {args.procs}, "
          f"{args.minibatches} mini-batches; bus {bw}, latency {bus.latency}, "
          f"{'shared' if bus.shared else 'point-to-point links'}, {'overlap' if bus.overlap else 'no overlap'}")
    print(f"One processor: {cost.total:,} cycles per weight update")
    print()
    rows = [(r.scheduler, r.analytic_cycles_per_update, round(r.simulated_cycles_per_update),
             cost.total / r.simulated_cycles_per_update, r.fill_latency,
             sum(r.utilization) / len(r.utilization), r.bus_bytes / r.minibatches / 1e3)
            for r in results]
    print(table(["scheduler", "analytic cyc/update", "simulated cyc/update", "speedup", "fill latency",
                 "mean utilization", "bus KB/mini-batch"], rows))
    if any(not r.steady_state for r in results):
        print(f"(the run is too short for a steady state at P = {args.procs}: use at least "
              f"{4 * args.procs + 2} mini-batches)")
    print()
    for r in results:
        print(f"{r.scheduler}: bottleneck {r.bottleneck}")
    if len(results) == 1:
        _details(results[0])
    for path, what in ((args.trace, "trace"), (args.plot, "Gantt chart")):
        if path:
            print(f"wrote {what}: " + ", ".join(str(_per_scheduler(path, n, len(names) > 1)) for n in names))
    return 0


def _details(r: SimResult) -> None:
    print()
    print(table(["proc", "load", "busy", "wait data", "wait weights", "wait bus", "idle", "peak SRAM KB"],
                [(f"p{p.index}", p.load, f"{p.share(p.busy):.1%}", f"{p.share(p.wait_data):.1%}",
                  f"{p.share(p.wait_weights):.1%}", f"{p.share(p.wait_bus):.1%}", f"{p.share(p.idle):.1%}",
                  p.peak_sram / 1e3) for p in r.processors], align="lrrrrrrr"))
    if r.links:
        print()
        print(table(["link", "occupancy", "KB moved", "transfers"],
                    [(l.name, f"{l.occupancy:.1%}", l.nbytes / 1e3, l.transfers) for l in r.links],
                    align="lrrr"))
