"""Overhead of the discrete-event layer on a functional run: wall time of `run_functional` (the DES
executing a schedule, every slice computing its values) against plain training (`models.train.train_step`
in a loop) on the same mini-batches, same thread settings, no evaluation in either.

    python benchmarks/bench_functional.py [--procs 4] [--scheduler finegrained] [--samples 1920] [--repeats 5]

Prints the median wall time of each over interleaved repeats and the overhead ratio (target < 25%).
The DES cost is events (slices and transfers), the rest is what splitting adds: a split slice
computes the edge samples it shares with its neighbour, owned-element masks, joins.
"""
from __future__ import annotations

import statistics
import sys
import time

from simulator.exits import OneLineParser, run_guarded
from models import snn
from models.optim import make_optimizer
from models.threads import set_threads
from models.train import minibatches, train_step
from simulator.cost import ArrayConfig, network_cost
from simulator.functional import FunctionalConfig, run_functional, subset
from simulator.schedule import make_schedule
from workloads.builtin import MNIST
from workloads.datasets import get_dataset
from workloads.environment import environment


def plain(train, batch: int, cfg: FunctionalConfig) -> float:
    """Seconds for one epoch of the plain trainer's steps (same order and encoding as the functional run)."""
    params = snn.init_params(MNIST, cfg.seed)
    opt = make_optimizer(cfg.optimizer, cfg.lr)
    t0 = time.perf_counter()
    for mb in minibatches(train, MNIST.timesteps, batch, cfg.encoding, cfg.seed, 0):
        train_step(MNIST, params, opt, None, mb.x, mb.static, mb.y)
    return time.perf_counter() - t0


def main() -> None:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--scheduler", default="finegrained")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--samples", type=int, default=1920)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    set_threads(args.threads, 1)
    print(f"environment: {environment().summary()}")
    data = get_dataset("mnist")
    train, test = subset(data.train, args.samples), subset(data.test, 32)
    schedule = make_schedule(args.scheduler, network_cost(MNIST, ArrayConfig(32, 32), args.batch), args.procs)
    cfg = FunctionalConfig(epochs=1)
    run_functional(schedule, subset(train, 2 * args.batch), test, cfg, progress=False)  # compile the kernels
    plain(subset(train, 2 * args.batch), args.batch, cfg)
    t_plain, t_func = [], []
    for _ in range(args.repeats):
        t_plain.append(plain(train, args.batch, cfg))
        t_func.append(run_functional(schedule, train, test, cfg, progress=False).seconds)
    mp, mf = statistics.median(t_plain), statistics.median(t_func)
    steps = len(train) // args.batch
    print(f"MNIST, batch {args.batch}, {steps} mini-batches, {args.scheduler} P = {args.procs}, "
          f"{args.threads} thread(s), median of {args.repeats}")
    print(f"plain training:         {mp:.3f} s  ({steps * args.batch / mp:,.0f} samples/s)")
    print(f"functional simulation:  {mf:.3f} s  ({steps * args.batch / mf:,.0f} samples/s)")
    print(f"overhead: {mf / mp - 1:+.1%} (target < 25%)")


if __name__ == "__main__":
    sys.exit(run_guarded("bench_functional", main))
