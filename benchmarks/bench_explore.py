"""Experiment runner throughput: points per second for a DES grid of 640 points (MNIST, P = 2..9,
five schedulers, four link bandwidths, two latencies, chain or shared bus; 64 mini-batches each)
run in this process, by 1 and 2 local workers and by a Dask LocalCluster of 2 single-threaded
workers, each into a fresh results file, all in one run.

    python benchmarks/bench_explore.py [--minibatches 64] [--out FILE.json]

Also measured, to say what limits the scaling: the in-process time per point (the point function
and its record, no runner), the pool's start-up (spawn, imports, warm-up), the pickled size and
round-trip time of a point and its record, and the share of the CPUs other processes used while
each row ran (this machine has 2 cores, shared). Every executor must give the same records.
Results go to benchmarks/results/bench_explore.json (atomically), with the environment.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

from machine_load import busy_jiffies
from simulator.exits import Exit, OneLineParser, run_guarded
from simulator.experiments import Experiment, experiment_from_dict, run
from simulator.experiments.executors import open_pool
from simulator.experiments.kinds import point_kind
from simulator.experiments.results import Status, evaluate
from workloads import ConfigError
from workloads.environment import environment
from workloads.files import write_atomic

RESULTS = Path(__file__).parent / "results" / "bench_explore.json"
EXECUTORS = {"1 worker (this process)": {"workers": 1}, "2 local workers": {"workers": 2},
             "Dask LocalCluster, 2 workers": {"dask": "local:2"}}


def grid(minibatches: int) -> Experiment:
    return experiment_from_dict({
        "name": "bench-explore", "seed": 0, "kind": "des",
        "fixed": {"network": "mnist", "minibatches": minibatches},
        "vary": {"procs": list(range(2, 10)), "scheduler": ["layerwise", "pipedream", "split", "finegrained", "optimal"],
                 "bandwidth": ["inf", 16.0, 4.0, 1.0], "latency": [0, 20], "shared": [False, True]}})


def cpu_jiffies() -> float:
    """Clock ticks used by this process and its finished children (pool workers, once joined)."""
    t = os.times()
    return (t.user + t.system + t.children_user + t.children_system) * os.sysconf("SC_CLK_TCK")


class Load:
    """Wall time, CPU time of this process and its joined children, and the share of all CPUs
    that other processes used meanwhile."""

    def __enter__(self) -> "Load":
        self.busy, self.own, self.start = busy_jiffies(), cpu_jiffies(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.start
        hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
        own = cpu_jiffies() - self.own
        self.cpu = own / hz
        self.foreign = max(0.0, (busy_jiffies() - self.busy) - own) / hz / (ncpu * self.wall)


def in_process(exp: Experiment) -> tuple[dict, dict]:
    """Every point evaluated in a loop here (no runner, no file): seconds per point; the results by key."""
    kind = point_kind(exp.kind)
    evaluate(kind.name, kind.target, exp.points()[0])  # imports and first-call costs out of the timing
    with Load() as load:
        records = [evaluate(kind.name, kind.target, p) for p in exp.points()]
    n = len(records)
    row = {"executor": "in-process loop (no runner)", "points": n, "wall_s": load.wall, "points_per_s": n / load.wall,
           "ms_per_point": 1e3 * load.wall / n, "cpu_s": load.cpu, "cpu_ms_per_point": 1e3 * load.cpu / n,
           "failed": sum(r.status is Status.FAILED for r in records), "foreign_load": load.foreign}
    return row, {r.key: (r.status.value, r.result) for r in records}


def startup(exp: Experiment, options: dict) -> Load:
    """Wall and CPU seconds to open and close the pool with no points (spawn, imports, warm-up, shutdown)."""
    with Load() as load, open_pool(point_kind(exp.kind), **options):
        pass
    return load


def through_runner(exp: Experiment, label: str, options: dict, folder: Path) -> tuple[dict, dict]:
    """The whole grid through `run` into a fresh results file: wall time with the pool's start-up."""
    with Load() as load:
        outcome = run(exp, folder / f"{len(os.listdir(folder))}.jsonl", progress=False, **options)
    if not outcome.complete or outcome.computed != outcome.points:
        raise ConfigError(f"{label}: ran {outcome.computed} of {outcome.points} points; use a fresh folder")
    busy = sum(r.seconds for r in outcome.records)
    n = outcome.points
    row = {"executor": label, "points": n, "wall_s": load.wall, "points_per_s": n / load.wall, "cpu_s": load.cpu,
           "point_function_s": busy, "failed": outcome.failed, "foreign_load": load.foreign}
    return row, {r.key: (r.status.value, r.result) for r in outcome.records}


def pickling(exp: Experiment) -> dict:
    """Bytes and microseconds to pickle and unpickle what travels: a point out, its record back."""
    kind = point_kind(exp.kind)
    point = exp.points()[-1]
    record = evaluate(kind.name, kind.target, point)
    out = {}
    for what, obj in (("point", point), ("record", record)):
        data = pickle.dumps(obj)
        start = time.perf_counter()
        for _ in range(1000):
            pickle.loads(pickle.dumps(obj))
        out[what] = {"bytes": len(data), "round_trip_us": (time.perf_counter() - start) * 1e3}
    return out


def main() -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minibatches", type=int, default=64, help="mini-batches per point (default 64)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.minibatches < 1:
        raise ConfigError(f"--minibatches: must be a positive integer, got {args.minibatches}")
    exp = grid(args.minibatches)
    env, loadavg = environment(), os.getloadavg()[0]
    print(f"environment: {env.summary()}")
    print(f"{len(exp.points())} DES points (MNIST, {args.minibatches} mini-batches each); load average {loadavg:.2f}",
          flush=True)
    serial, reference = in_process(exp)
    rows = [serial]
    print(f"in-process loop: {serial['ms_per_point']:.1f} ms per point, {serial['points_per_s']:.1f} points/s "
          f"(others used {serial['foreign_load']:.0%} of the CPUs)", flush=True)
    same = True
    with tempfile.TemporaryDirectory(prefix="bench_explore.") as tmp:
        for label, options in EXECUTORS.items():
            row, records = through_runner(exp, label, options, Path(tmp))
            start = startup(exp, options)
            row["startup_s"], row["startup_cpu_s"] = start.wall, start.cpu
            rows.append(row)
            same &= records == reference
            print(f"{label}: {row['wall_s']:.2f} s ({row['startup_s']:.2f} s pool start-up)", flush=True)
    base = rows[1]["points_per_s"]
    for row in rows:
        row["cpus_used"] = row["cpu_s"] / row["wall_s"]
    for row in rows[1:]:
        row["speedup"] = row["points_per_s"] / base
        row["points_per_s_after_startup"] = row["points"] / (row["wall_s"] - row["startup_s"])
        row["cpu_ms_per_point"] = 1e3 * (row["cpu_s"] - row["startup_cpu_s"]) / row["points"]
        row["overhead_cpu_ms_per_point"] = row["cpu_ms_per_point"] - serial["cpu_ms_per_point"]
    print(f"\n{'executor':<30} {'wall s':>7} {'points/s':>9} {'speed-up':>8} {'start s':>7} "
          f"{'pts/s w/o start':>15} {'CPU ms/pt':>9} {'overhead':>8} {'CPUs':>5} {'others':>6}")
    for row in rows:
        if "speedup" not in row:
            print(f"{row['executor']:<30} {row['wall_s']:7.2f} {row['points_per_s']:9.1f} {'':>8} {'':>7} "
                  f"{'':>15} {row['cpu_ms_per_point']:9.2f} {'':>8} {row['cpus_used']:5.2f} {row['foreign_load']:6.0%}")
            continue
        print(f"{row['executor']:<30} {row['wall_s']:7.2f} {row['points_per_s']:9.1f} {row['speedup']:7.2f}x "
              f"{row['startup_s']:7.2f} {row['points_per_s_after_startup']:15.1f} {row['cpu_ms_per_point']:9.2f} "
              f"{row['overhead_cpu_ms_per_point']:+8.2f} {row['cpus_used']:5.2f} {row['foreign_load']:6.0%}")
    pickled = pickling(exp)
    print(f"\nspeed-up: points/s over '1 worker' (the runner in this process), start-up included; start s: opening "
          f"and closing the pool alone; CPU ms/pt: CPU time of this process and its workers per point, start-up "
          f"excluded; overhead: that less the in-process loop's (runner, pickling, IPC, Dask scheduling); CPUs: "
          f"CPU time of ours per wall second (points/s is about CPUs / CPU per point); others: share of the "
          f"{os.cpu_count()} CPUs other processes used meanwhile")
    print("pickled per point: " + ", ".join(f"{what} {p['bytes']} B, {p['round_trip_us']:.0f} us round trip"
                                             for what, p in pickled.items()))
    print(f"same records from every executor: {'yes' if same else 'NO'}")
    write_atomic(args.out, json.dumps({"command": " ".join(sys.argv), "environment": env.as_dict(),
                                       "loadavg_before": loadavg, "grid": exp.as_dict(), "rows": rows,
                                       "pickled": pickled, "same_records": same}, indent=2))
    print(f"written {args.out}")
    return Exit.OK if same else Exit.CHECK_FAILED


if __name__ == "__main__":
    sys.exit(run_guarded("bench_explore", main))
