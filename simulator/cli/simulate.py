"""`spikepipe simulate`: run schedules on the virtual multiprocessor (discrete-event model)."""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, replace
from pathlib import Path

from simulator.cli.common import (ENCODING_HELP, LR_HELP, OPTIMIZER_HELP, add_data_dir_option, add_network_options,
                                  figure_path, network_arg, output_file, print_json, save_figure, seed, table)
from simulator.cost import ArrayConfig, network_cost
from simulator.des import SimResult, simulate
from simulator.energy import Activity
from simulator.machine import DEFAULT_MACHINE, PRESETS, Interconnect, Machine, Topology, load_machine
from models.encoding import ENCODINGS, Encoding
from models.memory import check_memory
from models.optim import OPTIMIZERS
from models.threads import set_threads
from simulator.functional import WEIGHT_POLICIES, FunctionalConfig, run_functional, run_ideal, subset
from simulator.reports import plot_gantt, trace_events
from simulator.reports.baselines import BASELINE_HEADERS, baseline_table
from simulator.schedule import SCHEDULERS, make_schedule
from workloads import ConfigError
from workloads.datasets import get_dataset
from workloads.files import write_atomic


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate", help="execute schedules on a machine of P processors (discrete-event)",
        description="Execute the task graph a scheduler produced on a machine of P systolic-array processors "
                    "(a preset or a TOML file, docs/machine.md: interconnect, SRAM, DRAM, clock, energy) for N "
                    "mini-batches, and report steady-state cycles and time per weight update, samples per "
                    "second, energy, the limiting resource, peak SRAM, fill latency, utilization and traffic.")
    add_network_options(p, array=None)
    p.add_argument("--machine", default=DEFAULT_MACHINE, metavar="NAME|FILE",
                   help=f"machine preset ({', '.join(PRESETS)}; ideal is the paper's) or .toml file")
    p.add_argument("--procs", type=int, default=4, help="number of processors P")
    p.add_argument("--scheduler", default="all", help=f"all or one of {', '.join(SCHEDULERS)}")
    p.add_argument("--minibatches", type=int, default=64, help="mini-batches to run")
    p.add_argument("--micro-batches", type=int, default=None,
                   help="micro-batches per mini-batch of the synchronous baselines listed with --scheduler all "
                        "(default: one per sample)")
    p.add_argument("--bus-bandwidth", default=None, metavar="BYTES_PER_CYCLE",
                   help="link bandwidth, bytes per cycle per link, or inf (default: the machine's)")
    p.add_argument("--bus-latency", type=int, default=None, metavar="CYCLES",
                   help="link latency, cycles per hop (default: the machine's)")
    p.add_argument("--shared-bus", action="store_true",
                   help="one bus shared by all transfers (they contend), with the machine's link bandwidth and latency")
    p.add_argument("--no-overlap", action="store_true",
                   help="no double buffering: a processor waits for its outgoing transfers")
    p.add_argument("--activity", metavar="FILE.json", default=None,
                   help="measured spike densities, {\"densities\": [one per compute layer], \"source\": ...} "
                        "(spikepipe train writes activity.json): spike-gated FP and WG energy, and cycles on "
                        "arrays that skip zeros (processors.zero_skip), scale with them (default: dense)")
    p.add_argument("--trace", metavar="FILE.json", help="write a Chrome trace-event file (open in Perfetto)")
    p.add_argument("--plot", metavar="FILE.png", help="write a Gantt chart of a window of mini-batches")
    p.add_argument("--plot-window", metavar="START:END", default=None,
                   help="the cycles the Gantt chart shows (default: four mini-batches in the steady state)")
    f = p.add_argument_group("functional mode (train a real network on the simulated machine; docs/functional.md)")
    f.add_argument("--functional", action="store_true",
                   help="every slice also computes its values: report cycles, training curve, test accuracy")
    f.add_argument("--dataset", help="dataset to train on, e.g. mnist (see `spikepipe data`)")
    add_data_dir_option(f)
    f.add_argument("--epochs", type=int, default=1, help="epochs, passes over the training set; replaces --minibatches")
    f.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help=OPTIMIZER_HELP)
    f.add_argument("--lr", type=float, default=1e-3, help=LR_HELP)
    f.add_argument("--seed", type=seed, default=0, help="seed for weights, data order and encoding")
    f.add_argument("--encoding", default=Encoding.CURRENT, choices=ENCODINGS, help=ENCODING_HELP)
    f.add_argument("--train-subset", type=int, default=None, metavar="N",
                   help="train on the first N samples only (default: all)")
    f.add_argument("--test-subset", type=int, default=None, metavar="N",
                   help="evaluate on the first N test samples only (default: all)")
    f.add_argument("--weights", default="stash", choices=WEIGHT_POLICIES,
                   help="weight version FP and IG use: stash (b - 1 - D_l) or latest (newest arrived)")
    f.add_argument("--emulate", default=None, metavar="SLICES",
                   help="tasks to run through the cycle-level array emulation, e.g. FP0,IG1 (default: none)")
    f.add_argument("--emulate-batches", type=int, default=2, help="mini-batches to emulate")
    f.add_argument("--compare-ideal", action="store_true",
                   help="also train the idealised delayed-gradient trainer (same delays) and the plain trainer")
    f.add_argument("--threads", type=int, default=None, help="threads for the numba kernels (default: all cores)")
    f.add_argument("--out", metavar="FILE.json", help="write the functional result as JSON (atomically)")
    p.set_defaults(func=run)


def _bandwidth(text: str) -> float:
    if text.strip().lower() in ("inf", "infinite", "infinity"):
        return math.inf
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--bus-bandwidth must be a number of bytes per cycle or inf, got {text!r}") from None


def machine_from_args(args: argparse.Namespace) -> Machine:
    """--machine with --array, --bus-bandwidth, --bus-latency and --shared-bus as overrides, for --procs processors."""
    machine = load_machine(args.machine)
    array = None if args.array is None else ArrayConfig.parse(args.array)
    bandwidth = None if args.bus_bandwidth is None else _bandwidth(args.bus_bandwidth)
    machine = machine.with_overrides(array=array, bandwidth=bandwidth, latency=args.bus_latency)
    if args.shared_bus:
        ic = machine.interconnect
        machine = replace(machine, interconnect=Interconnect(Topology.SHARED, ic.bandwidth, ic.latency))
    return machine.with_processors(args.procs)


def _per_scheduler(path: str, name: str, several: bool) -> Path:
    """FILE.json -> FILE-NAME.json when several schedulers are simulated."""
    p = Path(path)
    return p.with_name(f"{p.stem}-{name}{p.suffix}") if several else p


def plot_window(text: str | None) -> tuple[int, int] | None:
    """`--plot-window START:END` in cycles, 0 <= START < END."""
    if text is None:
        return None
    start, sep, end = text.partition(":")
    try:
        window = int(start.replace("_", "").replace(",", "")), int(end.replace("_", "").replace(",", ""))
    except ValueError:
        window = None
    if not sep or window is None or not 0 <= window[0] < window[1]:
        raise ConfigError(f"--plot-window: must be START:END cycles with 0 <= START < END, e.g. 0:200000, got {text!r}")
    return window


def read_activity(path: str | None) -> Activity | None:
    """`--activity FILE`: the densities file (None: dense)."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"--activity {path}: cannot read it: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--activity {path}: not valid JSON: {exc}") from None
    return Activity.from_dict(data, f"--activity {path}")


def activity_line(r: SimResult, path: str | None) -> str:
    """Which densities priced the spike-gated work: from the file, measured on the fly, or dense."""
    zero_skip = "; arrays skip zero spikes" if r.machine.processors.zero_skip else ""
    if r.activity is None:
        return f"activity: dense (every spike-gated MAC counted){zero_skip}"
    where = f"measured from {path} ({r.activity.source})" if path else r.activity.source
    densities = ", ".join(f"{d:.3f}" for d in r.activity.densities)
    return f"activity: {where}: densities {densities}{zero_skip}"


def run(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise ConfigError(f"--batch must be a positive integer, got {args.batch}")
    if args.procs < 1:
        raise ConfigError(f"--procs must be at least 1, got {args.procs}")
    net, machine = network_arg(args), machine_from_args(args)
    array = machine.processors.array
    if args.functional:
        if args.activity:
            raise ConfigError("--activity: not with --functional, which measures the densities on the real spikes")
        return _functional(args, net, machine)
    activity = read_activity(args.activity)
    names = list(SCHEDULERS) if args.scheduler == "all" else [args.scheduler]
    window = plot_window(args.plot_window)
    if window is not None and not args.plot:
        raise ConfigError("--plot-window: only with --plot FILE.png")
    if args.scheduler != "all" and args.scheduler not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler {args.scheduler!r}; use all or one of {', '.join(SCHEDULERS)}")
    for name in names:  # every output file is checked before the simulation runs
        if args.trace:
            output_file(_per_scheduler(args.trace, name, len(names) > 1), "--trace")
        if args.plot:
            figure_path(_per_scheduler(args.plot, name, len(names) > 1))
    cost = network_cost(net, array, args.batch)
    tracing = bool(args.trace or args.plot)
    results: list[SimResult] = []
    for name in names:
        result = simulate(make_schedule(name, cost, args.procs, machine), args.minibatches, machine, not args.no_overlap,
                          trace=tracing, activity=activity)
        results.append(result)
        if args.trace:
            write_atomic(_per_scheduler(args.trace, name, len(names) > 1), json.dumps(trace_events(result)))
        if args.plot:
            save_figure(plot_gantt(result, window=window), _per_scheduler(args.plot, name, len(names) > 1))
    if args.json:
        print_json([r.as_dict() for r in results])
        return 0
    print(f"Network {net.name}, array {array}, batch {args.batch}, P = {args.procs}, "
          f"{args.minibatches} mini-batches; {_machine_line(machine)}, "
          f"{'overlap' if not args.no_overlap else 'no overlap'}")
    print(f"One processor: {cost.total:,} cycles per weight update")
    print(activity_line(results[0], args.activity))
    print()
    if machine.ideal:
        rows = [(r.scheduler, r.analytic_cycles_per_update, *_steady(r, cost.total), r.fill_latency,
                 f"{100 * sum(r.utilization) / len(r.utilization):.1f}", r.bus_bytes / r.minibatches / 1e3)
                for r in results]
        print(table(["scheduler", "analytic cyc/update", "simulated cyc/update", "speedup (x)", "fill latency cycles",
                     "mean utilization %", "bus KB/mini-batch"], rows, align="lrrrrrr"))
    else:
        print(table(["scheduler", "ideal cycles/update", "physical cycles/update", "time/update µs", "samples/s",
                     "energy/sample mJ", "limited by", "peak SRAM KB", "of capacity %"],
                    [(r.scheduler, r.analytic_cycles_per_update, *_physical(r), _limit(r),
                      max(p.peak_sram for p in r.processors) / 1e3, _sram_use(r)) for r in results],
                    align="lrrrrrlrr"))
    if args.scheduler == "all":
        sync = baseline_table(net, array, args.batch, args.procs, args.micro_batches, machine, args.minibatches)
        print()
        print(sync.skipped or table(BASELINE_HEADERS, sync.rows, align="lrrrrrr"))
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


def _machine_line(m: Machine) -> str:
    """The machine in one line: topology, links, SRAM, DRAM, clock."""
    ic = m.interconnect
    links = "free links" if ic.free else f"{ic.topology.value} links {ic.bandwidth:g} B/cycle + {ic.latency} cycles/hop"
    sram = m.processors.sram_bytes
    sram = "unbounded SRAM" if math.isinf(sram) else f"SRAM {sram / 2**20:g} MiB/processor"
    dram = "no DRAM" if m.dram is None else f"DRAM {m.dram.bandwidth:g} B/cycle ({m.dram.channels.value})"
    return f"machine {m.name} ({links}, {sram}, {dram}, {m.clock_ghz:g} GHz)"


def _physical(r: SimResult) -> tuple:
    """Physical cycles and time per update, samples/s, energy per sample in mJ ('not measured' if the
    run is too short for a steady state)."""
    if not r.steady_state:
        return ("not measured",) * 4
    return (round(r.simulated_cycles_per_update), r.seconds_per_update * 1e6, round(r.samples_per_second),
            r.energy_per_sample_j * 1e3)


def _limit(r: SimResult) -> str:
    share = "" if r.limited_by.share is None else f" ({r.limited_by.share:.0%})"
    return r.limited_by.label + share


def _sram_use(r: SimResult) -> str:
    """The fullest processor's peak SRAM as a percentage of its capacity ('-' when unbounded)."""
    shares = [p.peak_sram / p.sram_bytes for p in r.processors if not math.isinf(p.sram_bytes)]
    return f"{100 * max(shares):.0f}" if shares else "-"


def _functional(args: argparse.Namespace, net, machine: Machine) -> int:
    if args.scheduler not in SCHEDULERS:
        raise ConfigError(f"--functional runs one schedule: give --scheduler as one of {', '.join(SCHEDULERS)}")
    if not args.dataset:
        raise ConfigError("--functional needs --dataset (e.g. mnist)")
    if args.out:
        output_file(args.out, "--out")
    check_memory(net, args.batch, "simulate --functional")
    if args.threads is not None:
        set_threads(args.threads, 1)
    data = get_dataset(args.dataset, args.data_dir)
    train, test = subset(data.train, args.train_subset), subset(data.test, args.test_subset)
    emulate = tuple(s.strip().upper() for s in (args.emulate or "").split(",") if s.strip())
    cfg = FunctionalConfig(args.optimizer, args.lr, args.epochs, args.seed, args.encoding, weights=args.weights,
                           emulate=emulate, emulate_batches=args.emulate_batches)
    array = machine.processors.array
    cost = network_cost(net, array, args.batch)
    schedule = make_schedule(args.scheduler, cost, args.procs)
    progress = not args.json
    result = run_functional(schedule, train, test, cfg, machine, not args.no_overlap, progress=progress)
    out = {"config": {"network": net.name, "array": str(array), "machine": machine.name, "batch": args.batch, "procs": args.procs,
                      "scheduler": args.scheduler, "dataset": args.dataset, "train_samples": len(train),
                      "test_samples": len(test), "synthetic": data.synthetic, **asdict(cfg)},
           "delays": list(schedule.delays), "functional": result.as_dict()}
    if args.compare_ideal:
        out["ideal"] = run_ideal(schedule, train, test, cfg, progress=progress)[0]
        out["plain"] = run_ideal(schedule, train, test, cfg, delays=(0,) * len(schedule.delays),
                                 progress=progress)[0]
    if args.out:
        write_atomic(args.out, json.dumps(out, indent=2))
    if args.json:
        print_json(out)
        return 0 if all(r.ok for r in result.emulated) else 1
    r = result.sim
    print(f"Network {net.name}, array {array}, batch {args.batch}, P = {args.procs}, scheduler {args.scheduler}, "
          f"delays {schedule.delays}; {r.minibatches} mini-batches ({args.epochs} epochs of {len(train)} samples"
          f"{', synthetic data' if data.synthetic else ''}), weights {args.weights}")
    print(table(["analytic cyc/update", "simulated cyc/update", "speedup (x)", "fill latency cycles", "total cycles"],
                [(r.analytic_cycles_per_update, *_steady(r, cost.total), r.fill_latency, r.total_cycles)],
                align="rrrrr"))
    if not r.steady_state:
        print(f"(too few mini-batches for a steady state at P = {args.procs}: use more training samples or epochs)")
    print(activity_line(r, None))
    _details(r)
    print()
    runs = [("pipelined (functional)", list(result.history))]
    runs += [(name, out[key]) for key, name in (("ideal", "idealised delayed"), ("plain", "non-pipelined"))
             if key in out]
    print(table(["epoch"] + [f"{name} {what}" for name, _ in runs for what in ("train loss", "test acc %")],
                [[e + 1] + [v for _, h in runs for v in (h[e]["train_loss"], f"{100 * h[e]['test_acc']:.2f}")]
                 for e in range(args.epochs)]))
    print(f"Pipeline drained (every gradient applied): test accuracy {result.final['test_acc']:.2%}; "
          f"functional simulation {result.seconds:.1f} s")
    if result.emulated:
        print()
        print(table(["slice", "mini-batch", "emulated cycles", "slice cycles", "max abs error", "float32 bound",
                     "spikes differing", "ok"],
                    [(e.slice, e.batch, e.emulated_cycles, e.slice_cycles, f"{e.max_abs_error:.2e}",
                      f"{e.float32_bound:.2e}", e.spikes_differing, e.ok) for e in result.emulated]))
    if args.out:
        print(f"wrote {args.out}")
    return 0 if all(e.ok for e in result.emulated) else 1


def _steady(r: SimResult, one_processor: int) -> tuple[int | str, float | str]:
    """Simulated cycles per update and speedup over one processor, or 'not measured' twice."""
    if r.simulated_cycles_per_update is None:
        return "not measured", "not measured"
    return round(r.simulated_cycles_per_update), one_processor / r.simulated_cycles_per_update


def _details(r: SimResult) -> None:
    print()
    print(table(["proc", "load cycles", "busy %", "wait data %", "wait weights %", "wait DRAM %", "wait bus %",
                 "idle %", "peak SRAM KB", "SRAM KB"],
                [(f"p{p.index}", p.load, *(f"{100 * p.share(c):.1f}" for c in (p.busy, p.wait_data, p.wait_weights,
                                                                               p.wait_memory, p.wait_bus, p.idle)),
                  p.peak_sram / 1e3,
                  "unbounded" if math.isinf(p.sram_bytes) else f"{p.sram_bytes / 1e3:,.0f}") for p in r.processors],
                align="lrrrrrrrrr"))
    channels = r.links + r.dram
    if channels:
        print()
        print(table(["channel", "occupancy %", "steady share %", "KB moved", "transfers"],
                    [(c.name, f"{100 * c.occupancy:.1f}",
                      "-" if c.steady_share is None else f"{100 * c.steady_share:.1f}",
                      c.nbytes / 1e3, c.transfers)
                     for c in channels], align="lrrrr"))
    e = r.energy
    if e is None:
        return
    print()
    print(f"Per update: {r.seconds_per_update * 1e6:,.2f} µs, {r.energy_per_update_j * 1e3:,.4f} mJ "
          f"(compute {e.compute * 1e3:,.4f}, IIR {e.iir * 1e3:,.4f}, SRAM {e.sram * 1e3:,.4f}, "
          f"DRAM {e.dram * 1e3:,.4f}, links {e.link * 1e3:,.4f}, static {e.static * 1e3:,.4f} mJ); "
          f"{r.power_per_processor_w:,.2f} W per processor in use ({r.processors_used}); "
          f"DRAM {r.dram_bytes_per_update / 1e3:,.1f} KB per update, busiest channel {r.dram_busy_share:.0%} busy")
