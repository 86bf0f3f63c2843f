"""Training speed of the Table I networks: SpikePipe's numba kernels beside plain PyTorch, as a ratio
the machine's load cannot move.

One training step = forward, BPTT backward, Adam update at batch 32. Each implementation runs in
its own persistent worker process (SpikePipe: `models`; the peer: `benchmarks/peer_torch.py`, the
same network and LIF neuron in plain PyTorch). After their warm-up the workers take turns, one
round of timed steps each, ABBA order (ours, peer, peer, ours, ...), so both see the same load;
while one runs the other waits on its pipe. Each round records the worker's CPU time
(`time.process_time`, all its threads), its wall time and the share of the CPUs other processes
used meanwhile (`machine_load`). A round's ratio is the peer's time per step over ours, from the
round of each side next to each other; the figures are the medians of those per-round ratios.

Both sides get the same threads: first one each (numba 1 / torch 1, one BLAS thread), then
`--threads` each (numba n threads with one BLAS thread, as they never run at once / torch
`set_num_threads(n)`), every worker with `NUMBA_NUM_THREADS`, `OMP_NUM_THREADS` = its threads and
`OMP_WAIT_POLICY=PASSIVE` (unless set: a spinning OpenMP thread would count as CPU time). The
headline is the single-thread CPU time per step: what the code costs, which a busy machine does not
change (a 2-core box under a full-core foreign load moved the wall-clock ratio of one MNIST run
between 1.3x and 8.3x). Beside it: the `--threads` wall-clock ratio and CPU ratio. With one thread
the peer runs both its loop orders (`layer`, `step`), each against the same SpikePipe worker; the
order with less CPU time per step is the peer from then on. Peak resident memory is each side's
worker's at `--threads` (the first phase's SpikePipe worker may have compiled numba functions into
its cache, which is no memory of training).

Inputs are random: MNIST an analog image fed as a constant current, N-MNIST and DVS128 binary event
frames with 10 % of pixels active. SpikePipe's kernels are event driven, so its speed depends on how
many spikes flow: its weights start from `--init firing` (every layer fires at 10 %, `models.init`)
unless `--init default` is given, with which the deep DVS128 layers are silent.

torch is not a dependency: without it the peer is skipped with a note, and SpikePipe's figures are
measured and written all the same (exit 0).

    python benchmarks/bench_train.py [--nets mnist,nmnist,dvs128] [--threads 2] [--init firing|default]
        [--rounds R] [--skip-peer]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple, TypeVar

from machine_load import busy_jiffies, foreign_load, own_jiffies
from models.init import INIT_KINDS, InitKind
from simulator.exits import OneLineParser, run_guarded
from workloads import InputKind
from workloads.environment import environment
from workloads.files import write_atomic


class Plan(NamedTuple):
    """How one network is timed: untimed warm-up steps per worker, steps per timed round, rounds per side."""

    warmup: int
    steps: int
    rounds: int


PLANS = {"mnist": Plan(3, 10, 7), "nmnist": Plan(2, 3, 7), "dvs128": Plan(2, 1, 3)}  # DVS128 settles after 2
PEER_MODES = ("layer", "step")  # peer_torch.MODES (not imported here: torch may be missing)
RESULTS = Path(__file__).parent / "results" / "bench_train.json"
B = TypeVar("B")  # a batch as an implementation takes it


class RoundTimes(NamedTuple):
    """One timed round of a worker: its CPU seconds (all threads) and wall seconds for `steps` steps,
    the other processes' share of the CPUs meanwhile, the last step's loss."""

    steps: int
    cpu_s: float
    wall_s: float
    foreign_load: float
    loss: float


def time_round(draw: Callable[[], B], step: Callable[[B], float], steps: int) -> RoundTimes:
    """Run `step(draw())` `steps` times; only the steps are timed (not the drawing of random batches)."""
    cpu = wall = foreign = 0.0
    loss = float("nan")
    for _ in range(steps):
        data = draw()
        b0, o0, c0, t0 = busy_jiffies(), own_jiffies(), time.process_time(), time.perf_counter()
        loss = step(data)
        dt = time.perf_counter() - t0
        cpu += time.process_time() - c0
        wall += dt
        foreign += foreign_load(b0, o0, dt) * dt
    return RoundTimes(steps, cpu, wall, foreign / wall, loss)


def spikepipe_step(net_name: str, batch: int, seed: int,
                   init: InitKind) -> tuple[Callable[[], tuple], Callable[[tuple], float], dict]:
    """SpikePipe's random batches (an analog image, or event frames with 10 % active pixels), its training
    step on one, and the first batch's spike activity."""
    import numpy as np

    from models.activity import measure_activity
    from models.init import initial_params
    from models.optim import Adam
    from models.train import train_step
    from workloads.builtin import BUILTIN

    net = BUILTIN[net_name]
    rng = np.random.default_rng(seed)
    classes = net.compute_layers()[-1].out_size
    static = net.input_kind is InputKind.CURRENT

    def draw() -> tuple[np.ndarray, np.ndarray]:
        x = (rng.random((batch,) + net.input_shape, dtype=np.float32) if static else
             (rng.random((net.timesteps, batch) + net.input_shape) < 0.1).astype(np.uint8))
        return x, rng.integers(0, classes, batch)

    x0, _ = draw()
    params, opt = initial_params(net, init, seed, x0, static), Adam(1e-3)
    activity = measure_activity(net, params, x0, static)

    def step(data: tuple[np.ndarray, np.ndarray]) -> float:
        return train_step(net, params, opt, None, data[0], static, data[1])[0]

    return draw, step, {"init": str(init), "firing_rates": [round(r, 4) for r in activity.firing]}


def worker(args: argparse.Namespace) -> int:
    """A persistent worker: set up and warm up one implementation, answer one JSON line to each
    command line on stdin ('round': time `steps` steps; 'end': the peak memory, then exit). Anything
    else the process prints goes to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    from models.threads import keep_freed_memory, set_threads
    from workloads.builtin import BUILTIN

    plan = PLANS[args.worker]
    if args.impl == "torch":
        from peer_torch import make_step  # beside this file, in sys.path[0]

        draw, step = make_step(BUILTIN[args.worker], args.mode, args.batch, args.seed, args.threads)
        info = {"mode": args.mode, "torch": sys.modules["torch"].__version__}
    else:
        set_threads(args.threads, 1)
        keep_freed_memory()
        draw, step, info = spikepipe_step(args.worker, args.batch, args.seed, InitKind(args.init))
    warm = time_round(draw, step, plan.warmup)
    proto.write(json.dumps({"impl": args.impl, "threads": args.threads, **info, "first_loss": warm.loss,
                            "warmup": warm._asdict()}) + "\n")
    for line in sys.stdin:
        if line.strip() == "round":
            proto.write(json.dumps(time_round(draw, step, plan.steps)._asdict()) + "\n")
        else:
            break
    proto.write(json.dumps({"peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}) + "\n")
    return 0


class Worker:
    """The benchmark's end of a persistent worker process (`worker`)."""

    def __init__(self, net: str, impl: str, threads: int, batch: int, seed: int, init: str, mode: str) -> None:
        cmd = [sys.executable, __file__, "--worker", net, "--impl", impl, "--mode", mode, "--threads", str(threads),
               "--batch", str(batch), "--seed", str(seed), "--init", init]
        env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self.label = f"{impl}{'' if impl == 'spikepipe' else ' ' + mode} x{threads}"
        self.err = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     env=env)
        self.info = self._reply()
        self.rounds: list[RoundTimes] = []

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.err.seek(0)
            raise RuntimeError(f"the {self.label} worker exited ({self.proc.returncode}):\n{self.err.read()[-2000:]}")
        return json.loads(line)

    def round(self) -> RoundTimes:
        self.proc.stdin.write("round\n")
        self.proc.stdin.flush()
        self.rounds.append(RoundTimes(**self._reply()))
        return self.rounds[-1]

    def close(self) -> dict:
        """Stop the worker -> its setup info, rounds and peak resident memory."""
        self.proc.stdin.write("end\n")
        self.proc.stdin.flush()
        peak = self._reply()["peak_rss_MiB"]
        self.proc.wait()
        self.err.close()
        return {**self.info, "rounds": [r._asdict() for r in self.rounds], "peak_rss_MiB": peak}


def per_step(rounds: list[RoundTimes], field: str) -> list[float]:
    return [getattr(r, field) / r.steps for r in rounds]


def compare(ours: Worker, peer: Worker | None, rounds: int) -> dict:
    """`rounds` timed rounds per side in ABBA order -> per-round ratios (peer time / ours) and their medians."""
    start = len(ours.rounds)
    for r in range(rounds):
        pair = (ours, peer) if r % 2 == 0 else (peer, ours)
        for w in pair:
            if w is not None:
                w.round()
    mine = ours.rounds[start:]
    out = {"threads": ours.info["threads"], "ours_cpu_s_per_step": statistics.median(per_step(mine, "cpu_s")),
           "ours_wall_s_per_step": statistics.median(per_step(mine, "wall_s")),
           "ours_foreign_load": statistics.median(r.foreign_load for r in mine)}
    if peer is None:
        return out
    theirs = peer.rounds[-rounds:]
    for field in ("cpu_s", "wall_s"):
        ratios = [p / o for p, o in zip(per_step(theirs, field), per_step(mine, field))]
        out[f"{field.split('_')[0]}_ratios"] = ratios
        out[f"{field.split('_')[0]}_ratio"] = statistics.median(ratios)
    return out | {"peer_mode": peer.info["mode"], "peer_cpu_s_per_step": statistics.median(per_step(theirs, "cpu_s")),
                  "peer_wall_s_per_step": statistics.median(per_step(theirs, "wall_s")),
                  "peer_foreign_load": statistics.median(r.foreign_load for r in theirs)}


def measure(net: str, threads: int, batch: int, peer_modes: tuple[str, ...], seed: int, init: str,
            rounds: int) -> dict:
    """Both phases of one network (one thread each, then `threads` each) -> its results row."""
    plan = PLANS[net]._replace(rounds=rounds)._asdict()
    row: dict = {"network": net, "batch": batch, "threads": threads, "plan": plan,
                 "loadavg_before": os.getloadavg()[0], "comparisons": [], "workers": []}
    best = None
    for n in sorted({1, threads}):
        ours = Worker(net, "spikepipe", n, batch, seed, init, PEER_MODES[0])
        for mode in (peer_modes if best is None else (best,)):
            peer = Worker(net, "torch", n, batch, seed, init, mode)
            row["comparisons"].append(compare(ours, peer, rounds))
            row["workers"].append(peer.close())
        if not peer_modes:
            row["comparisons"].append(compare(ours, None, rounds))
        row["workers"].append(ours.close())
        if peer_modes and best is None:
            best = min(row["comparisons"], key=lambda c: c["peer_cpu_s_per_step"])["peer_mode"]
    ours_info = next(w for w in row["workers"] if w["impl"] == "spikepipe")
    last = [w for w in row["workers"] if w["threads"] == threads]  # their numba functions came from the cache
    one, many = (next(c for c in row["comparisons"] if c["threads"] == n and c.get("peer_mode", best) == best)
                 for n in (1, threads))
    row["spikepipe"] = {"init": ours_info["init"], "firing_rates": ours_info["firing_rates"],
                        "samples_per_cpu_s": batch / one["ours_cpu_s_per_step"],
                        "samples_per_s": batch / many["ours_wall_s_per_step"],
                        "peak_rss_MiB": max(w["peak_rss_MiB"] for w in last if w["impl"] == "spikepipe")}
    row["peer"] = None if best is None else {
        "mode": best, "samples_per_cpu_s": batch / one["peer_cpu_s_per_step"],
        "samples_per_s": batch / many["peer_wall_s_per_step"],
        "peak_rss_MiB": max(w["peak_rss_MiB"] for w in last if w["impl"] == "torch")}
    if best is not None:
        row["ratio_cpu_1_thread"] = one["cpu_ratio"]
        row["ratio_wall"], row["ratio_cpu"] = many["wall_ratio"], many["cpu_ratio"]
        row["foreign_load"] = {"ours": many["ours_foreign_load"], "peer": many["peer_foreign_load"]}
    row["loadavg_after"] = os.getloadavg()[0]
    return row


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", default="mnist,nmnist,dvs128")
    ap.add_argument("--threads", type=int, default=2, help="threads of each side in the second phase")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=None,
                    help="timed rounds per side and phase (default per network: "
                         + ", ".join(f"{k} {p.rounds}" for k, p in PLANS.items()) + ")")
    ap.add_argument("--init", default=InitKind.FIRING, choices=INIT_KINDS,
                    help="SpikePipe's initial weights (default firing: every layer spikes, see the docstring)")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker", choices=list(PLANS), help=argparse.SUPPRESS)
    ap.add_argument("--impl", default="spikepipe", choices=("spikepipe", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--mode", default=PEER_MODES[0], choices=PEER_MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    nets = args.nets.split(",")
    for net in nets:
        if net not in PLANS:
            ap.error(f"unknown network {net!r}; choose from {', '.join(PLANS)}")
    for name in ("threads", "batch", "rounds"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name} must be a positive integer, got {value}")
    if args.threads > (os.cpu_count() or 1):
        ap.error(f"--threads {args.threads} is more than the machine's {os.cpu_count()} CPUs; give at most that")
    peer_note = ("skipped (--skip-peer)" if args.skip_peer else None if torch_available() else
                 "torch is not installed: pip install torch==2.13.0 to measure the peer")
    if peer_note and not args.skip_peer:
        print("note: torch is not installed, so the PyTorch peer is skipped and only SpikePipe's figures are "
              "measured (pip install torch==2.13.0 to compare)", flush=True)
    peer_modes = () if peer_note else PEER_MODES
    print(f"SpikePipe weights: --init {args.init}; peer: benchmarks/peer_torch.py, the loop order "
          f"({', '.join(PEER_MODES)}) with less CPU time at 1 thread. Ratios are peer time / SpikePipe time per "
          f"step, medians of per-round ratios: CPU at 1 thread each (headline), wall and CPU at {args.threads} "
          f"threads each; foreign load = other processes' share of the CPUs during {args.threads}-thread rounds.")
    print(f"{'network':8} {'CPU x1':>7} {f'wall x{args.threads}':>7} {f'CPU x{args.threads}':>7}  "
          f"{'ours/CPU-s':>10} {'peer/CPU-s':>10}  {'ours MiB':>8} {'peer MiB':>8}  {'foreign (ours, peer)':>20}  "
          f"peer  firing rates (ours, step 0)")
    rows = []
    for net in nets:
        row = measure(net, args.threads, args.batch, peer_modes, args.seed, args.init, args.rounds or PLANS[net].rounds)
        row["peer_note"] = peer_note
        rows.append(row)
        ours, peer = row["spikepipe"], row["peer"]
        rates = " ".join(f"{r:.3f}" for r in ours["firing_rates"])
        if peer is None:
            print(f"{net:8} {'-':>7} {'-':>7} {'-':>7}  {ours['samples_per_cpu_s']:10.1f} {'-':>10}  "
                  f"{ours['peak_rss_MiB']:8.0f} {'-':>8}  {'-':>20}  -     {rates}  ({peer_note})", flush=True)
            continue
        load = f"{row['foreign_load']['ours']:.2f}, {row['foreign_load']['peer']:.2f}"
        print(f"{net:8} {row['ratio_cpu_1_thread']:7.2f} {row['ratio_wall']:7.2f} {row['ratio_cpu']:7.2f}  "
              f"{ours['samples_per_cpu_s']:10.1f} {peer['samples_per_cpu_s']:10.1f}  {ours['peak_rss_MiB']:8.0f} "
              f"{peer['peak_rss_MiB']:8.0f}  {load:>20}  {peer['mode']:5} {rates}", flush=True)
    command = " ".join([sys.argv[0], *argv] if argv is not None else sys.argv)
    write_atomic(args.out, json.dumps({"command": command, "cpus": os.cpu_count(), "init": str(args.init),
                                       "environment": environment().as_dict(), "rows": rows}, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded("bench_train", main))
