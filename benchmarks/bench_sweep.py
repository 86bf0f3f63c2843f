"""Time the full Table VII sweep: 3 networks x 8 batch sizes x 5 arrays x P = 1..16 x 5 schedulers.

Prints the median wall time of a few runs (target: well under 5 s) and the
number of schedules; `network_cost` runs once per (network, batch, array).

    python benchmarks/bench_sweep.py [--repeats 3]
"""
from __future__ import annotations

import sys
import time
from statistics import median

from simulator.exits import OneLineParser, run_guarded
from simulator.schedule import MACHINE_BLIND
from simulator.paper import TABLE_VII_ARRAYS, TABLE_VII_BATCHES
from simulator.reports import sweep
from workloads import DVS128, MNIST, NMNIST
from workloads.environment import environment


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"environment: {environment().summary()}")
    times, count = [], 0
    for _ in range(args.repeats):
        start = time.perf_counter()
        count = len(sweep([MNIST, NMNIST, DVS128], range(1, 17), TABLE_VII_BATCHES, TABLE_VII_ARRAYS, MACHINE_BLIND))
        times.append(time.perf_counter() - start)
    per_scheduler = {}
    for name in MACHINE_BLIND:
        start = time.perf_counter()
        sweep([MNIST, NMNIST, DVS128], range(1, 17), TABLE_VII_BATCHES, TABLE_VII_ARRAYS, (name,))
        per_scheduler[name] = time.perf_counter() - start
    print(f"full Table VII sweep: {count} schedules, median wall time {median(times):.2f} s "
          f"over {args.repeats} runs (min {min(times):.2f} s)")
    print("per scheduler (one run, network costs included): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in per_scheduler.items()))


if __name__ == "__main__":
    sys.exit(run_guarded("bench_sweep", main))
