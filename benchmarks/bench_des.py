"""Discrete-event model speed: events per second and wall time for DVS128, P = 16, the optimal
scheduler, 1,000 mini-batches; and the same run on a 16x16 and a 256x256 array, to show that
the cost follows slices and transfers, not simulated cycles.

    python benchmarks/bench_des.py [--minibatches 1000] [--repeats 5]

Prints medians over the repeats (this machine is shared and noisy).
"""
from __future__ import annotations

import statistics
import sys
import time

from simulator.exits import OneLineParser, run_guarded
from simulator.cost import ArrayConfig, network_cost
from simulator.des import BusConfig, simulate
from simulator.schedule import make_schedule
from workloads import DVS128
from workloads.environment import environment


def measure(array: ArrayConfig, minibatches: int, repeats: int, bus: BusConfig,
            scheduler: str = "optimal") -> tuple[float, object]:
    schedule = make_schedule(scheduler, network_cost(DVS128, array, 1), 16)
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = simulate(schedule, minibatches, bus)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minibatches", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"environment: {environment().summary()}")
    print(f"DVS128, P = 16, optimal scheduler, {args.minibatches} mini-batches, median of {args.repeats}")
    print(f"{'array':>8} {'bus':>14} {'wall s':>8} {'events':>9} {'events/s':>11} {'sim. cycles':>15} {'cyc/update':>12}")
    walls = {}
    for array in (ArrayConfig(32, 32), ArrayConfig(16, 16), ArrayConfig(256, 256)):
        for label, bus in (("free", BusConfig()), ("16 B/cyc, 20", BusConfig(16, 20))):
            wall, r = measure(array, args.minibatches, args.repeats, bus)
            walls[str(array), label] = wall
            print(f"{str(array):>8} {label:>14} {wall:8.3f} {r.events:9,d} {r.events / wall:11,.0f} "
                  f"{r.total_cycles:15,d} {r.simulated_cycles_per_update:12,.0f}")
    ratio = walls["256x256", "free"] / walls["16x16", "free"]
    print(f"wall time 256x256 / 16x16, optimal (free bus): {ratio:.2f}; the two schedules differ in "
          f"slices and transfers (see events), not only in cycles")
    fixed = [measure(a, args.minibatches, args.repeats, BusConfig(16, 20), "layerwise")
             for a in (ArrayConfig(16, 16), ArrayConfig(256, 256))]
    (w16, r16), (w256, r256) = fixed
    print(f"same schedule shape (layer-wise, 16 B/cycle): 16x16 {w16:.3f} s for {r16.total_cycles:,} cycles, "
          f"256x256 {w256:.3f} s for {r256.total_cycles:,} cycles: wall ratio {w256 / w16:.2f} for "
          f"{r16.total_cycles / r256.total_cycles:.0f}x fewer cycles (target: within 0.8-1.25)")
    print(f"target: 1,000 mini-batches in under 2 s -> {walls['32x32', 'free']:.3f} s on 32x32")


if __name__ == "__main__":
    sys.exit(run_guarded("bench_des", main))
