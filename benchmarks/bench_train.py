"""Training throughput of the Table I networks: SpikePipe's numba kernels beside plain PyTorch.

For each network: samples per second of one full training step (forward, BPTT backward, Adam
update) at batch 32, median over timed iterations after warm-up, and the peak resident memory
of the process, for SpikePipe and for the peer `benchmarks/peer_torch.py` (the same network and
LIF neuron written in plain PyTorch, loop orders `layer` and `step`; the better one counts), all
measured in this one run, each in its own process. SpikePipe runs with 1 and with `--threads`
BLAS threads; the better one counts. Inputs are random: MNIST an analog image fed as a constant
current, N-MNIST and DVS128 binary event frames with 10% of pixels active. SpikePipe's kernels
are event driven, so its speed depends on how many spikes flow: its weights start from
`--init firing` (every layer fires at 10 %, `models.init`) unless `--init default` is given,
with which the deep DVS128 layers are silent and do almost no work.

torch is not a dependency: without it the peer is skipped with a note, and SpikePipe's figures
are measured and written all the same (exit 0).

The machine may be shared: each line records the share of the CPUs used by other processes
while it ran, so figures from a busy machine can be recognised.

    python benchmarks/bench_train.py [--nets mnist,nmnist,dvs128] [--threads 2] [--init firing|default]
        [--skip-peer]
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
import time
from pathlib import Path
from typing import Callable, TypeVar

from machine_load import busy_jiffies, foreign_load, own_jiffies
from models.init import INIT_KINDS, InitKind
from simulator.exits import OneLineParser, run_guarded
from workloads import InputKind
from workloads.environment import environment
from workloads.files import write_atomic

ITERS = {"mnist": (3, 30), "nmnist": (2, 10), "dvs128": (1, 3)}  # warm-up, timed
PEER_MODES = ("layer", "step")  # peer_torch.MODES (not imported here: torch may be missing)
RESULTS = Path(__file__).parent / "results" / "bench_train.json"
B = TypeVar("B")  # a batch as an implementation takes it


def time_steps(draw: Callable[[], B], step: Callable[[B], float], warmup: int, iters: int, batch: int) -> dict:
    """Run `step(draw())` for warm-up and timed iterations (the drawing of the random batch is not timed)
    -> samples/s (median), the other processes' share of the CPUs during the timed ones (median), the
    peak resident memory, the first and last loss."""
    times, foreign, losses = [], [], []
    for it in range(warmup + iters):
        data = draw()
        b0, o0, t0 = busy_jiffies(), own_jiffies(), time.perf_counter()
        losses.append(step(data))
        dt = time.perf_counter() - t0
        if it >= warmup:
            times.append(dt)
            foreign.append(foreign_load(b0, o0, dt))
    return {"samples_per_s": batch / statistics.median(times), "median_foreign_load": statistics.median(foreign),
            "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "first_loss": losses[0], "last_loss": losses[-1]}


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


def worker(args: argparse.Namespace) -> dict:
    """Time one implementation's training step in this process; returns the figures as a dict."""
    from models.threads import keep_freed_memory, set_threads
    from workloads.builtin import BUILTIN

    warmup, iters = ITERS[args.worker]
    if args.impl == "torch":
        from peer_torch import make_step  # beside this file, in sys.path[0]

        draw, step = make_step(BUILTIN[args.worker], args.mode, args.batch, args.seed, args.threads)
        return {"impl": "torch", "mode": args.mode, "threads": args.threads,
                **time_steps(draw, step, warmup, iters, args.batch), "torch": sys.modules["torch"].__version__}
    set_threads(args.threads, args.blas_threads)
    keep_freed_memory()
    draw, step, info = spikepipe_step(args.worker, args.batch, args.seed, InitKind(args.init))
    return {"impl": "spikepipe", "threads": args.threads, "blas_threads": args.blas_threads, **info,
            **time_steps(draw, step, warmup, iters, args.batch)}


def _last_json(cmd: list[str]) -> dict:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure(net: str, threads: int, batch: int, skip_peer: bool, seed: int, init: str) -> dict:
    row: dict = {"network": net, "batch": batch, "threads": threads, "loadavg_before": os.getloadavg()[0]}
    base = [sys.executable, __file__, "--worker", net, "--threads", str(threads), "--batch", str(batch), "--seed",
            str(seed)]
    runs = [_last_json(base + ["--blas-threads", str(blas), "--init", init]) for blas in sorted({1, threads})]
    row["spikepipe_runs"] = runs
    row["spikepipe"] = max(runs, key=lambda r: r["samples_per_s"])
    row["peer"] = None
    if skip_peer:
        row["peer_note"] = "skipped (--skip-peer)"
    elif not torch_available():
        row["peer_note"] = "torch is not installed: pip install torch==2.13.0 to measure the peer"
    else:
        runs = [_last_json(base + ["--impl", "torch", "--mode", mode]) for mode in PEER_MODES]
        row["peer_runs"] = runs
        row["peer"] = max(runs, key=lambda r: r["samples_per_s"])
        row["ratio"] = row["spikepipe"]["samples_per_s"] / row["peer"]["samples_per_s"]
    row["loadavg_after"] = os.getloadavg()[0]
    return row


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", default="mnist,nmnist,dvs128")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default=InitKind.FIRING, choices=INIT_KINDS,
                    help="SpikePipe's initial weights (default firing: every layer spikes, see the docstring)")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--blas-threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--worker", choices=list(ITERS), help=argparse.SUPPRESS)
    ap.add_argument("--impl", default="spikepipe", choices=("spikepipe", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--mode", default=PEER_MODES[0], choices=PEER_MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    nets = args.nets.split(",")
    for net in nets:
        if net not in ITERS:
            ap.error(f"unknown network {net!r}; choose from {', '.join(ITERS)}")
    if not args.skip_peer and not torch_available():
        print("note: torch is not installed, so the PyTorch peer is skipped and only SpikePipe's figures are "
              "measured (pip install torch==2.13.0 to compare)", flush=True)
    rows = []
    print(f"SpikePipe weights: --init {args.init}; peer: benchmarks/peer_torch.py, best of modes "
          f"{', '.join(PEER_MODES)}")
    print(f"{'network':8} {'SpikePipe/s':>12} {'peak MiB':>9} {'peer/s':>8} {'peer MiB':>9} {'ratio':>6}  "
          f"{'foreign load (ours, peer)':>26}  firing rates (ours, step 0)")
    for net in nets:
        row = measure(net, args.threads, args.batch, args.skip_peer, args.seed, args.init)
        rows.append(row)
        ours, peer = row["spikepipe"], row["peer"]
        peer_txt = (f"{peer['samples_per_s']:8.1f} {peer['peak_rss_MiB']:9.0f} {row['ratio']:6.2f}" if peer
                    else f"{'-':>8} {'-':>9} {'-':>6}")
        load = f"{ours['median_foreign_load']:.2f}, " + (f"{peer['median_foreign_load']:.2f}" if peer else "-")
        rates = " ".join(f"{r:.3f}" for r in ours["firing_rates"])
        print(f"{net:8} {ours['samples_per_s']:12.1f} {ours['peak_rss_MiB']:9.0f} {peer_txt}  {load:>26}  {rates}"
              + ("" if peer else f"  ({row['peer_note']})"), flush=True)
    command = " ".join([sys.argv[0], *argv] if argv is not None else sys.argv)
    write_atomic(args.out, json.dumps({"command": command, "cpus": os.cpu_count(), "init": str(args.init),
                                       "environment": environment().as_dict(), "rows": rows}, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded("bench_train", main))
