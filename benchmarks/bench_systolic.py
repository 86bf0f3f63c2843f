"""Speed of the cycle-level array emulation: PE-cycles per second and one MNIST training step on 32 x 32.

Prints, each a median over `--repeats` runs in this process:
- the wall time to emulate every FP, WG and IG task of one MNIST training step
  (46,956 cycles x 1,024 PEs = 48.1 million PE-cycles) and the PE-cycles per second;
- the same for the whole `spikepipe validate` step (operands, IIR bank, numpy references);
- the compile time of the numba kernels, measured in a fresh process with an empty
  cache directory, and the time to load them from the cache.

    python benchmarks/bench_systolic.py [--array 32x32] [--repeats 5]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from simulator.exits import OneLineParser, run_guarded
from simulator.cost import ArrayConfig, TaskKind, network_cost
from simulator.emulator import emulate_gemm, operands
from workloads import MNIST, LayerKind
from workloads.environment import environment

FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
from simulator.emulator import emulate_gemm
from simulator.cost import ArrayConfig
emulate_gemm(np.ones((3, 2), np.float32), np.ones((2, 3), np.float32), ArrayConfig(2, 2))
print(time.perf_counter() - t0)
"""


def _first_call_seconds(cache_dir: str | None) -> float:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def _step_operands(array: ArrayConfig, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Operands of every task of one MNIST training step (seeded spikes, gradients and weights)."""
    rng = np.random.default_rng(seed)
    t, ops = MNIST.timesteps, []
    for task in network_cost(MNIST, array).tasks:
        layer = MNIST.compute_layers()[task.layer]
        wshape = ((layer.kernel, layer.kernel, layer.in_channels, layer.out_channels)
                  if layer.kind is LayerKind.CONV else (layer.in_size, layer.out_size))
        x = (rng.random((t, 1, *layer.in_shape)) < 0.2).astype(np.float32)
        g = rng.standard_normal((t, 1, *layer.out_shape)).astype(np.float32)
        w = rng.standard_normal(wshape).astype(np.float32)
        ops.append(operands(layer, task.kind, t, 1, x=x, w=w, g=g))
    return ops


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--array", default="32x32")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    array = ArrayConfig.parse(args.array)
    print(f"environment: {environment().summary()}")
    cost = network_cost(MNIST, array)
    pe_cycles = cost.total * array.rows * array.cols

    with tempfile.TemporaryDirectory() as empty:
        cold = _first_call_seconds(empty)
    warm = _first_call_seconds(None)
    print(f"numba compile (fresh process, empty cache): {cold:.2f} s; load from cache: {warm:.2f} s")

    ops = _step_operands(array, seed=0)
    emulate_gemm(*ops[-1], array)  # compile or load before timing
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        cycles = sum(emulate_gemm(a, b, array).cycles for a, b in ops)
        times.append(time.perf_counter() - t0)
    assert cycles == cost.total, (cycles, cost.total)
    step = statistics.median(times)
    print(f"MNIST training step on {array}: {cost.total:,} cycles, {pe_cycles / 1e6:.1f} M PE-cycles")
    print(f"  emulation only: {step * 1e3:.1f} ms (median of {args.repeats}), "
          f"{pe_cycles / step / 1e6:,.0f} M PE-cycles/s")

    from simulator.emulator import emulate_step  # operands, IIR bank and numpy references too
    emulate_step(MNIST, array, 1, False, 0)
    vtimes = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        emulate_step(MNIST, array, 1, False, 0)
        vtimes.append(time.perf_counter() - t0)
    print(f"  whole validate step (operands, bank, references): {statistics.median(vtimes) * 1e3:.1f} ms")
    kinds = {k: sum(t.cycles for t in cost.tasks if t.kind is k) for k in TaskKind}
    print("  cycles by kind: " + ", ".join(f"{k.value} {v:,}" for k, v in kinds.items()))


if __name__ == "__main__":
    sys.exit(run_guarded("bench_systolic", main))
