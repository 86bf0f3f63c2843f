"""Training throughput of the Table I networks: SpikePipe's numba kernels beside plain PyTorch.

For each network: samples per second of one full training step (forward, backward, Adam
update) at batch 32, median over timed iterations after warm-up, and the peak resident
memory of the process, for SpikePipe and for the peer implementation
`/work/shared/bench/peer_torch.py` (the paper's exact LIF recurrence in PyTorch, modes
`step` and `layer`; the better one counts), all measured in this one run, each in its own
process. SpikePipe runs with 1 and with `--threads` BLAS threads; the better one counts. Inputs are random like the peer's: MNIST an analog image fed as a constant
current, N-MNIST and DVS128 binary event frames with 10% of pixels active.

The machine may be shared: each line records the load average and the share of the CPUs
used by other processes while it ran, so figures from a busy machine can be recognised.

    python benchmarks/bench_train.py [--nets mnist,nmnist,dvs128] [--threads 2] [--skip-peer]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine_load import busy_jiffies, foreign_load, own_jiffies
from simulator.exits import OneLineParser, run_guarded
from workloads import InputKind
from workloads.environment import environment
from workloads.files import write_atomic

# the peer script lives in shared/ beside the repository (SPIKEPIPE_PEER overrides)
PEER = Path(os.environ.get("SPIKEPIPE_PEER", Path(__file__).resolve().parents[2] / "shared/bench/peer_torch.py"))
PEER_NAMES = {"mnist": "mnist", "nmnist": "nmnist", "dvs128": "dvs"}
ITERS = {"mnist": (3, 30), "nmnist": (2, 10), "dvs128": (1, 3)}  # warm-up, timed
RESULTS = Path(__file__).parent / "results" / "bench_train.json"


def worker(net_name: str, threads: int, blas: int, batch: int, warmup: int, iters: int, seed: int) -> dict:
    """Time SpikePipe's training step in this process; returns the figures as a dict."""
    import numpy as np

    from models.optim import Adam
    from models.snn import init_params
    from models.threads import keep_freed_memory, set_threads
    from models.train import train_step
    from workloads.builtin import BUILTIN

    set_threads(threads, blas)
    keep_freed_memory()
    net = BUILTIN[net_name]
    rng = np.random.default_rng(seed)
    params, opt = init_params(net, seed), Adam(1e-3)
    classes = net.compute_layers()[-1].out_size
    static = net.input_kind is InputKind.CURRENT
    times, foreign = [], []
    for it in range(warmup + iters):
        x = (rng.random((batch,) + net.input_shape, dtype=np.float32) if static else
             (rng.random((net.timesteps, batch) + net.input_shape) < 0.1).astype(np.uint8))
        y = rng.integers(0, classes, batch)
        b0, o0, t0 = busy_jiffies(), own_jiffies(), time.perf_counter()
        train_step(net, params, opt, None, x, static, y)
        dt = time.perf_counter() - t0
        if it >= warmup:
            times.append(dt)
            foreign.append(foreign_load(b0, o0, dt))
    return {"impl": "spikepipe", "threads": threads, "blas_threads": blas, "samples_per_s": batch / statistics.median(times),
            "median_foreign_load": statistics.median(foreign),
            "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _last_json(cmd: list[str], env: dict | None = None) -> dict:
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure(net: str, threads: int, batch: int, skip_peer: bool, seed: int) -> dict:
    warmup, iters = ITERS[net]
    row: dict = {"network": net, "batch": batch, "threads": threads, "loadavg_before": os.getloadavg()[0]}
    runs = [_last_json([sys.executable, __file__, "--worker", net, "--threads", str(threads), "--blas-threads",
                        str(blas), "--batch", str(batch), "--seed", str(seed)]) for blas in sorted({1, threads})]
    row["spikepipe_runs"] = runs
    row["spikepipe"] = max(runs, key=lambda r: r["samples_per_s"])
    row["peer"] = None
    if skip_peer:
        row["peer_note"] = "skipped (--skip-peer)"
    elif subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode != 0:
        row["peer_note"] = "torch is not installed: pip install torch==2.13.0 to measure the peer"
    elif not PEER.exists():
        row["peer_note"] = f"peer script {PEER} not found (set SPIKEPIPE_PEER)"
    else:
        runs = [_last_json([sys.executable, str(PEER), "--net", PEER_NAMES[net], "--impl", "torch", "--mode", mode,
                            "--batch", str(batch), "--threads", str(threads), "--warmup", str(warmup),
                            "--iters", str(iters), "--seed", str(seed)]) for mode in ("step", "layer")]
        row["peer_runs"] = runs
        row["peer"] = max(runs, key=lambda r: r["samples_per_s"])
        row["ratio"] = row["spikepipe"]["samples_per_s"] / row["peer"]["samples_per_s"]
    row["loadavg_after"] = os.getloadavg()[0]
    return row


def main() -> int:
    ap = OneLineParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", default="mnist,nmnist,dvs128")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--blas-threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, args.blas_threads, args.batch, *ITERS[args.worker],
                                args.seed)))
        return 0
    rows = []
    print(f"{'network':8} {'SpikePipe/s':>12} {'peak MiB':>9} {'peer/s':>8} {'peer MiB':>9} {'ratio':>6}  "
          f"{'foreign load (ours, peer)':>26}")
    for net in args.nets.split(","):
        if net not in ITERS:
            ap.error(f"unknown network {net!r}; choose from {', '.join(ITERS)}")
        row = measure(net, args.threads, args.batch, args.skip_peer, args.seed)
        rows.append(row)
        ours, peer = row["spikepipe"], row["peer"]
        peer_txt = (f"{peer['samples_per_s']:8.1f} {peer['peak_rss_MiB']:9.0f} {row['ratio']:6.2f}" if peer
                    else f"{'-':>8} {'-':>9} {'-':>6}")
        load = f"{ours['median_foreign_load']:.2f}, " + (f"{peer['median_foreign_load']:.2f}" if peer else "-")
        print(f"{net:8} {ours['samples_per_s']:12.1f} {ours['peak_rss_MiB']:9.0f} {peer_txt}  {load:>26}"
              + ("" if peer else f"  ({row['peer_note']})"), flush=True)
    write_atomic(args.out, json.dumps({"command": " ".join(sys.argv), "cpus": os.cpu_count(),
                                       "environment": environment().as_dict(), "rows": rows}, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded("bench_train", main))
