"""Where each schedule falls off a cliff on a physical machine, and how per-processor memory
scales with P.

    python benchmarks/bench_machine.py [--minibatches-per-proc 5] [--out DIR]

1. Sweeps, in the discrete-event model on the `realistic` preset (chain links 16 B/cycle + 20
   cycles per hop, 4 MiB SRAM per processor spilling to a shared DRAM of 25.6 B/cycle, 1 GHz),
   one resource at a time: the SRAM per processor (64 KiB .. 64 MiB, x4 steps, and unbounded)
   and the link bandwidth (1 .. 64 B/cycle, x2 steps, and free links), for the three Table I
   networks (MNIST, N-MNIST, DVS128) at batch 1, P = 4 and 8, the fine-grained and the compute-optimal
   schedulers: throughput (samples/s) and energy per sample.
2. Section IV-D: "the memory requirement [of one processor, batch 32] is 11.568 MB, 44.217 MB and
   2.092 GB ... This requirement reduces almost linearly with an increase in number of
   processors": the peak SRAM of the fullest processor at batch 32 for P = 1 .. 16 on the
   `ideal` machine (unbounded SRAM, so the peak is what the schedule needs), and the paper's
   measure, one mini-batch's intermediates that the fullest processor's backward slices keep
   (`ProcessorStats.kept`: no stash over the delays, no weight versions), beside the paper's
   one-processor figures.

Sweep runs are `4 P + minibatches-per-proc` mini-batches (enough for the steady state); memory
runs `8 P + minibatches-per-proc`, for the deepest weight stash (1 + D mini-batches) to fill. Writes
sweep.csv, memory.csv, bench_machine.json (with the environment) and sweep-<network>.png,
memory.png into benchmarks/results/machine/ (atomically) and prints the figures.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from simulator.cost import ArrayConfig, network_cost
from simulator.des import SimResult, simulate
from simulator.exits import OneLineParser, run_guarded
from simulator.machine import Machine, load_machine
from simulator.paper import MEMORY_MB
from simulator.reports.figure import new_figure
from simulator.schedule import make_schedule
from workloads import DVS128, MNIST, NMNIST
from workloads.environment import environment
from workloads.files import atomic_path, write_atomic, write_csv_atomic

RESULTS = Path(__file__).parent / "results" / "machine"
NETWORKS = (MNIST, NMNIST, DVS128)
ARRAY = ArrayConfig(32, 32)
PROCS = (4, 8)
SCHEDULERS = ("finegrained", "compute-optimal")
SRAM_BYTES = tuple(64 * 1024 * 4 ** i for i in range(6)) + (math.inf,)  # 64 KiB .. 64 MiB, unbounded
BANDWIDTHS = tuple(2.0 ** i for i in range(7)) + (math.inf,)  # 1 .. 64 B/cycle, free
MEMORY_PROCS = (1, 2, 4, 8, 16)
MEMORY_BATCH = 32
INF_AT = {"sram": 256 * 2 ** 20, "bandwidth": 128.0}  # where 'unbounded' is drawn on the log axes


def machine_with(base: Machine, axis: str, value: float) -> Machine:
    """`base` with one resource set: SRAM bytes per processor or link bandwidth (bytes/cycle)."""
    if axis == "sram":
        return replace(base, processors=replace(base.processors, sram_bytes=value))
    return base.with_overrides(bandwidth=value)


def row(result: SimResult, **keys) -> dict:
    """One simulated point: throughput, energy, what limits it, memory traffic."""
    return {**keys, "cycles_per_update": result.simulated_cycles_per_update,
            "samples_per_s": result.samples_per_second, "energy_per_sample_uj":
            None if result.energy_per_sample_j is None else result.energy_per_sample_j * 1e6,
            "limited_by": result.limited_by.label, "dram_bytes_per_update": result.dram_bytes_per_update,
            "peak_sram_bytes_max": max(p.peak_sram for p in result.processors)}


def sweep(extra: int) -> list[dict]:
    """Every (network, P, scheduler, axis, value) point of the sweep (module docstring, 1)."""
    base, rows = load_machine("realistic"), []
    for net in NETWORKS:
        cost = network_cost(net, ARRAY, 1)
        for procs in PROCS:
            for scheduler in SCHEDULERS:
                schedule = make_schedule(scheduler, cost, procs)
                for axis, values in (("sram", SRAM_BYTES), ("bandwidth", BANDWIDTHS)):
                    for value in values:
                        r = simulate(schedule, 4 * procs + extra, machine_with(base, axis, value))
                        rows.append(row(r, network=net.name, procs=procs, scheduler=scheduler, axis=axis,
                                        value=None if math.isinf(value) else value))
    return rows


def memory(extra: int) -> list[dict]:
    """Peak SRAM of the fullest processor at batch 32 against P (module docstring, 2)."""
    ideal, rows = load_machine("ideal"), []
    for net in NETWORKS:
        cost = network_cost(net, ARRAY, MEMORY_BATCH)
        for scheduler in SCHEDULERS:
            for procs in MEMORY_PROCS:
                schedule = make_schedule(scheduler, cost, procs)
                r = simulate(schedule, 8 * procs + extra, ideal)
                peak = max(p.peak_sram for p in r.processors)
                rows.append({"network": net.name, "scheduler": scheduler, "procs": procs,
                             "max_delay": max(schedule.delays), "peak_sram_mb_max": peak / 1e6,
                             "peak_sram_mb_mean": sum(p.peak_sram for p in r.processors) / procs / 1e6,
                             "kept_mb_max": max(p.kept for p in r.processors) / 1e6,
                             "intermediates_mb_one_processor": cost.memory_bytes / 1e6,
                             "paper_mb_one_processor": MEMORY_MB[net.name]})
    return rows


def _x(axis: str, value: float | None) -> float:
    return INF_AT[axis] if value is None else value


def _tick(axis: str, value: float) -> str:
    if axis == "bandwidth":
        return f"{value:g}"
    return f"{value / 2 ** 20:g} Mi" if value >= 2 ** 20 else f"{value / 2 ** 10:g} Ki"


def sweep_figure(rows: list[dict], network: str):
    """Throughput and energy per sample against SRAM and link bandwidth, one line per (scheduler, P)."""
    fig = new_figure(2, 2, (11, 7))
    for col, (axis, label) in enumerate((("sram", "SRAM per processor (bytes)"),
                                         ("bandwidth", "link bandwidth (B/cycle; ∞: free links)"))):
        for r_i, (field, ylabel) in enumerate((("samples_per_s", "samples/s"),
                                               ("energy_per_sample_uj", "energy per sample (µJ)"))):
            ax = fig.axes[2 * r_i + col]
            for procs in PROCS:
                for scheduler in SCHEDULERS:
                    pts = [(_x(axis, r["value"]), r[field]) for r in rows if r["network"] == network
                           and r["axis"] == axis and r["procs"] == procs and r["scheduler"] == scheduler
                           and r[field] is not None]
                    ax.plot(*zip(*pts), marker="o", markersize=3,
                            linestyle="-" if scheduler == "compute-optimal" else "--", label=f"{scheduler}, P = {procs}")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            finite = [v for v in (SRAM_BYTES if axis == "sram" else BANDWIDTHS) if not math.isinf(v)]
            ax.set_xticks(finite + [INF_AT[axis]], [_tick(axis, v) for v in finite] + ["∞"], fontsize=7)
            ax.set_xlabel(label, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.grid(True, which="both", alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.suptitle(f"{network}, batch 1, realistic machine, one resource varied", fontsize=10)
    return fig


def memory_figure(rows: list[dict]):
    """Peak SRAM of the fullest processor against P, with 1/P from P = 1 and the paper's figures."""
    fig = new_figure(1, 1, (7, 4.5))
    ax = fig.axes[0]
    for net in NETWORKS:
        for scheduler in SCHEDULERS:
            pts = [(r["procs"], r["peak_sram_mb_max"]) for r in rows
                   if r["network"] == net.name and r["scheduler"] == scheduler]
            line, = ax.plot(*zip(*pts), marker="o", linestyle="-" if scheduler == "compute-optimal" else "--",
                            label=f"{net.name}, {scheduler}")
        one = pts[0][1]
        ax.plot(MEMORY_PROCS, [one / p for p in MEMORY_PROCS], color=line.get_color(), linestyle=":", linewidth=1)
        ax.plot([1], [MEMORY_MB[net.name]], marker="*", markersize=10, color=line.get_color(), linestyle="none")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("processors P")
    ax.set_ylabel("peak SRAM of the fullest processor (MB)")
    ax.set_title(f"batch {MEMORY_BATCH}, unbounded SRAM (dotted: 1/P from P = 1; star: paper, one processor)",
                 fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def cliffs(rows: list[dict]) -> list[str]:
    """Per (network, P, scheduler, axis): the largest value at which throughput drops below 90% of
    the best of the sweep (the cliff edge), or none."""
    lines = []
    for net in NETWORKS:
        for procs in PROCS:
            for scheduler in SCHEDULERS:
                parts = []
                for axis, unit in (("sram", "B SRAM"), ("bandwidth", "B/cycle")):
                    pts = [r for r in rows if r["network"] == net.name and r["procs"] == procs
                           and r["scheduler"] == scheduler and r["axis"] == axis and r["samples_per_s"]]
                    best = max(r["samples_per_s"] for r in pts)
                    low = [r for r in pts if r["samples_per_s"] < 0.9 * best]
                    edge = max((_x(axis, r["value"]) for r in low), default=None)
                    parts.append(f"{axis}: " + ("no cliff" if edge is None else f"below 90% up to {edge:,.0f} {unit}"))
                lines.append(f"{net.name:7} P = {procs} {scheduler:11} " + "; ".join(parts))
    return lines


def _print_sweep(rows: list[dict]) -> None:
    print(f"{'network':8} {'P':>2} {'scheduler':11} {'axis':9} {'value':>10} {'cyc/update':>12} {'samples/s':>11} "
          f"{'µJ/sample':>10} {'DRAM KB/upd':>11}  limited by")
    for r in rows:
        value = "inf" if r["value"] is None else f"{r['value']:,.0f}"
        print(f"{r['network']:8} {r['procs']:2} {r['scheduler']:11} {r['axis']:9} {value:>10} "
              f"{r['cycles_per_update']:12,.0f} {r['samples_per_s']:11,.0f} {r['energy_per_sample_uj']:10,.1f} "
              f"{r['dram_bytes_per_update'] / 1e3:11,.1f}  {r['limited_by']}")


def main() -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minibatches-per-proc", dest="extra", type=int, default=10,
                        help="mini-batches beyond 4 P per run (default 10)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.extra < 2:
        parser.error(f"--minibatches-per-proc must be at least 2 (a steady state), got {args.extra}")
    env = environment()
    print(f"environment: {env.summary()}")
    t0 = time.perf_counter()
    rows = sweep(args.extra)
    t1 = time.perf_counter()
    _print_sweep(rows)
    print(f"\nsweep: {len(rows)} simulations in {t1 - t0:.1f} s")
    print("\nwhere throughput falls below 90% of the sweep's best:")
    for line in cliffs(rows):
        print("  " + line)
    mem = memory(args.extra)
    t2 = time.perf_counter()
    print(f"\npeak SRAM of the fullest processor, batch {MEMORY_BATCH}, MB (ideal machine; {t2 - t1:.1f} s):")
    print(f"{'network':8} {'scheduler':11} " + " ".join(f"{'P=' + str(p):>9}" for p in MEMORY_PROCS)
          + f" {'P1/P16':>7} {'max D at P=16':>13} {'ours: intermediates P=1':>24} {'paper P=1':>10}")
    for net in NETWORKS:
        for scheduler in SCHEDULERS:
            mine = [r for r in mem if r["network"] == net.name and r["scheduler"] == scheduler]
            print(f"{net.name:8} {scheduler:11} " + " ".join(f"{r['peak_sram_mb_max']:9,.3f}" for r in mine)
                  + f" {mine[0]['peak_sram_mb_max'] / mine[-1]['peak_sram_mb_max']:7.2f} {mine[-1]['max_delay']:13}"
                  f" {mine[0]['intermediates_mb_one_processor']:24,.3f} {MEMORY_MB[net.name]:10,.3f}")
    print("\none mini-batch's intermediates kept for the backward pass, fullest processor, MB (the paper's measure):")
    print(f"{'network':8} {'scheduler':11} " + " ".join(f"{'P=' + str(p):>9}" for p in MEMORY_PROCS) + f" {'P1/P16':>7}")
    for net in NETWORKS:
        for scheduler in SCHEDULERS:
            mine = [r for r in mem if r["network"] == net.name and r["scheduler"] == scheduler]
            print(f"{net.name:8} {scheduler:11} " + " ".join(f"{r['kept_mb_max']:9,.3f}" for r in mine)
                  + f" {mine[0]['kept_mb_max'] / mine[-1]['kept_mb_max']:7.2f}")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out / "sweep.csv", rows)
    write_csv_atomic(out / "memory.csv", mem)
    for net in NETWORKS:
        with atomic_path(out / f"sweep-{net.name}.png") as tmp:
            sweep_figure(rows, net.name).savefig(tmp, format="png", dpi=110)
    with atomic_path(out / "memory.png") as tmp:
        memory_figure(mem).savefig(tmp, format="png", dpi=110)
    write_atomic(out / "bench_machine.json", json.dumps(
        {"command": " ".join(sys.argv), "environment": env.as_dict(), "seconds": time.perf_counter() - t0,
         "array": str(ARRAY), "machine": "realistic (sweep), ideal (memory)", "sweep": rows, "memory": mem,
         "cliffs": cliffs(rows)}, indent=2))
    print(f"\nwritten {out}/ (sweep.csv, memory.csv, bench_machine.json, sweep-*.png, memory.png) "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded("bench_machine", main))
