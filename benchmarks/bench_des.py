"""Discrete-event model speed: wall and CPU time for DVS128, P = 16, the compute-optimal scheduler,
1,000 mini-batches, on the paper's ideal machine, on links alone (16 bytes/cycle, 20 cycles per
hop) and on the `realistic` and `mesh16` presets (links, 4 MiB SRAM per processor spilling to
DRAM); and the same runs on a 16x16 and a 256x256 array, to show that the cost follows slices,
transfers and DRAM accesses, not simulated cycles.

    python benchmarks/bench_des.py [--minibatches 1000] [--repeats 5] [--out FILE.json]

Prints medians over the repeats, with the environment: this machine is shared, so each row
also records the load average and the share of the CPUs other processes used while it ran
(CPU time is the less noisy figure then). Targets: 1,000 mini-batches under 2 s on the ideal
machine and under 1 s on the realistic preset (32x32). Results go to
benchmarks/results/bench_des.json (atomically).
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from machine_load import busy_jiffies, foreign_load, own_jiffies
from simulator.exits import OneLineParser, run_guarded
from simulator.cost import ArrayConfig, network_cost
from simulator.des import SimResult, link_machine, simulate
from simulator.machine import load_machine
from simulator.schedule import make_schedule
from workloads import DVS128
from workloads.environment import environment
from workloads.files import write_atomic

RESULTS = Path(__file__).parent / "results" / "bench_des.json"
MACHINES = {  # label: machine with the default 32x32 array (overridden per row)
    "ideal": load_machine("ideal"),
    "16 B/cyc, 20": link_machine(16, 20),
    "realistic": load_machine("realistic"),
    "mesh16": load_machine("mesh16"),
}


def measure(array: ArrayConfig, machine: str, minibatches: int, repeats: int,
            scheduler: str = "compute-optimal") -> tuple[dict, SimResult]:
    """Median wall and CPU seconds of `repeats` runs, with the load while they ran; the last result."""
    schedule = make_schedule(scheduler, network_cost(DVS128, array, 1), 16)
    m = MACHINES[machine].with_overrides(array=array)
    walls, cpus, foreign, result = [], [], [], None
    for _ in range(repeats):
        b0, o0 = busy_jiffies(), own_jiffies()
        w0, c0 = time.perf_counter(), time.process_time()
        result = simulate(schedule, minibatches, m)
        wall = time.perf_counter() - w0
        walls.append(wall)
        cpus.append(time.process_time() - c0)
        foreign.append(foreign_load(b0, o0, wall))
    row = {"array": str(array), "machine": machine, "scheduler": scheduler, "minibatches": minibatches,
           "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "wall_s_all": walls,
           "events": result.events, "simulated_cycles": result.total_cycles,
           "cycles_per_update": result.simulated_cycles_per_update, "limited_by": result.limited_by.label,
           "dram_accesses": sum(c.transfers for c in result.dram), "link_hops": sum(l.transfers for l in result.links),
           "median_foreign_load": statistics.median(foreign), "loadavg_after": os.getloadavg()[0]}
    return row, result


def main() -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minibatches", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    env, loadavg = environment(), os.getloadavg()[0]
    print(f"environment: {env.summary()}")
    print(f"DVS128, P = 16, {args.minibatches} mini-batches, median of {args.repeats}; load average {loadavg:.2f}")
    print(f"{'array':>8} {'machine':>13} {'wall s':>7} {'CPU s':>6} {'events':>7} {'hops':>7} {'DRAM':>7} "
          f"{'sim. cycles':>15} {'cyc/update':>12} {'limited by':>14} {'others':>6}")
    rows, walls = [], {}
    cases = [(a, m) for a in (ArrayConfig(32, 32), ArrayConfig(16, 16), ArrayConfig(256, 256))
             for m in ("ideal", "16 B/cyc, 20")] + [(ArrayConfig(32, 32), "realistic"), (ArrayConfig(32, 32), "mesh16")]
    for array, machine in cases:
        row, _ = measure(array, machine, args.minibatches, args.repeats)
        rows.append(row)
        walls[str(array), machine] = row
        print(f"{str(array):>8} {machine:>13} {row['wall_s']:7.3f} {row['cpu_s']:6.3f} {row['events']:7,d} "
              f"{row['link_hops']:7,d} {row['dram_accesses']:7,d} {row['simulated_cycles']:15,d} "
              f"{row['cycles_per_update']:12,.0f} {row['limited_by']:>14} {row['median_foreign_load']:6.0%}",
              flush=True)
    ratio = walls["256x256", "ideal"]["cpu_s"] / walls["16x16", "ideal"]["cpu_s"]
    print(f"CPU time 256x256 / 16x16, compute-optimal (ideal machine): {ratio:.2f}; the two schedules differ in "
          f"slices and transfers (see events), not only in cycles")
    fixed = [measure(a, "16 B/cyc, 20", args.minibatches, args.repeats, "layerwise")
             for a in (ArrayConfig(16, 16), ArrayConfig(256, 256))]
    (r16, s16), (r256, s256) = fixed
    rows += [r16, r256]
    print(f"same schedule shape (layer-wise, 16 B/cycle): 16x16 {r16['cpu_s']:.3f} s CPU for {s16.total_cycles:,} "
          f"cycles, 256x256 {r256['cpu_s']:.3f} s for {s256.total_cycles:,} cycles: ratio "
          f"{r256['cpu_s'] / r16['cpu_s']:.2f} for {s16.total_cycles / s256.total_cycles:.0f}x fewer cycles "
          f"(target: within 0.8-1.25)")
    ideal, real = walls["32x32", "ideal"], walls["32x32", "realistic"]
    print(f"targets on 32x32: ideal under 2 s -> {ideal['wall_s']:.3f} s wall ({ideal['cpu_s']:.3f} s CPU); "
          f"realistic under 1 s -> {real['wall_s']:.3f} s wall ({real['cpu_s']:.3f} s CPU; other processes "
          f"used {real['median_foreign_load']:.0%} of the CPUs meanwhile)")
    write_atomic(args.out, json.dumps({"command": " ".join(sys.argv), "environment": env.as_dict(),
                                       "loadavg_before": loadavg, "rows": rows}, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded("bench_des", main))
