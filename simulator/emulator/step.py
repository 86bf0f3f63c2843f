"""One training step through the emulator, checked against `simulator.cost` and numpy.

Every FP, WG and IG task of one weight update runs on the emulated array (`array`) with real
operands (`tasks`): the forward pass feeds each layer's currents through the IIR filter bank
(`iir_bank`, eq. 4-5; the output accumulator eq. 18) and its spikes (pooled: max, sum or
average) into the next layer; the backward pass starts from the loss gradient (eq. 7, 20, 19),
and each IG's output is un-pooled and run through the previous layer's gradient filter (eq. 17,
22, 23).
Each task's cycles are compared with eq. 28 (`simulator.cost`) and its values with a float64
reference of the same convolution or matrix product, within `float32_bound`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models.encoding import Encoding, check_compatible, encode
from models.layers import pool_fp, pool_ig, softmax_cross_entropy
from models.neuron import accumulator_backward
from models.snn import init_params
from simulator.cost import ArrayConfig, TaskKind, network_cost
from workloads import ComputeLayer, ConfigError, InputKind, Network
from workloads.datasets import DatasetKind
from workloads.datasets import get_dataset

from .array import GemmRun, emulate_gemm, float32_bound
from .iir_bank import BankTiming, bank_backward, bank_forward
from .tasks import from_rows, operands, output_tensor, reference, to_rows


@dataclass(frozen=True)
class TaskCheck:
    """One task on the emulated array beside its analytic cost and its float64 reference."""

    task: str
    layer: str
    rows: int
    cols: int
    macs: int
    tiles: int
    emulated_cycles: int
    analytic_cycles: int
    match: bool  # emulated cycles and tiles equal `simulator.cost`'s
    cycles_to_last_mac: int
    pe_macs: int
    max_abs_error: float
    float32_bound: float

    @property
    def within_bound(self) -> bool:
        return self.max_abs_error <= self.float32_bound

    def as_dict(self) -> dict:
        return {**asdict(self), "within_bound": self.within_bound}


@dataclass(frozen=True)
class BankCheck:
    """The filter bank on one layer's stream beside the array cycles of the task that fed it."""

    layer: str
    backward: bool
    timing: BankTiming
    array_cycles: int

    @property
    def direction(self) -> str:
        return "backward" if self.backward else "forward"

    @property
    def extra_cycles(self) -> int:
        """Cycles the bank runs past the array (0 or 1 forward; more behind a pool backward)."""
        return max(0, self.timing.finish - self.array_cycles)

    def as_dict(self) -> dict:
        return {"layer": self.layer, "pass": self.direction,
                "samples_per_filter": self.timing.samples_per_filter, "bank_finish": self.timing.finish,
                "array_cycles": self.array_cycles, "stall_cycles": self.timing.stall_cycles,
                "extra_cycles": self.extra_cycles}


@dataclass(frozen=True)
class StepCheck:
    """Every task of one training step, in `simulator.cost`'s task order, and every filter-bank pass."""

    network: str
    array: ArrayConfig
    batch: int
    seed: int
    data: str  # where the mini-batch came from
    loss: float
    tasks: tuple[TaskCheck, ...]
    filter_bank: tuple[BankCheck, ...]
    analytic_total: int

    @property
    def emulated_total(self) -> int:
        return sum(t.emulated_cycles for t in self.tasks)

    @property
    def all_match(self) -> bool:
        return all(t.match for t in self.tasks)

    @property
    def all_within_bound(self) -> bool:
        return all(t.within_bound for t in self.tasks)

    @property
    def ok(self) -> bool:
        return self.all_match and self.all_within_bound

    def as_dict(self) -> dict:
        return {"network": self.network, "array": [self.array.rows, self.array.cols], "batch": self.batch,
                "seed": self.seed, "data": self.data, "loss": self.loss,
                "tasks": [t.as_dict() for t in self.tasks], "filter_bank": [b.as_dict() for b in self.filter_bank],
                "emulated_total": self.emulated_total, "analytic_total": self.analytic_total,
                "all_match": self.all_match, "all_within_bound": self.all_within_bound}


def step_input(net: Network, batch: int, seed: int,
               data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """`(T, B, *input)` float32 input, labels, and where they came from.

    The first `batch` training samples when the network's dataset is fetched (under `data_dir`,
    `workloads.datasets.data_root`) and fits it,
    else seeded random data (a uniform image, or Bernoulli(0.2) event frames); either is
    encoded as the trainer does (`models.encoding.encode`: images as a constant current).
    """
    t = net.timesteps
    classes = net.compute_layers()[-1].out_size
    try:
        split = get_dataset(net.name, data_dir).train
        check_compatible(net, split.sample_shape, split.kind, Encoding.CURRENT)
    except ConfigError:  # no dataset of that name, not fetched, or not this network's input
        split = None
    if split is not None and len(split) >= batch:
        x, kind, labels = split.x[:batch], split.kind, split.y[:batch] % classes
        source = f"dataset {net.name} (first {batch})"
    else:
        rng = np.random.default_rng(seed)
        if net.input_kind is InputKind.CURRENT:
            x, kind = rng.random((batch, *net.input_shape), dtype=np.float32), DatasetKind.IMAGE
        else:  # event frames, (B, T, ...) like a frame dataset's samples
            x, kind = np.swapaxes(rng.random((t, batch, *net.input_shape)) < 0.2, 0, 1), DatasetKind.FRAMES
        labels = rng.integers(0, classes, batch)
        source = f"seeded random data (seed {seed})"
    encoded, static = encode(x, kind, t, Encoding.CURRENT, None)
    if static:  # the same current at every timestep
        encoded = np.broadcast_to(encoded[None], (t, *encoded.shape))
    return np.ascontiguousarray(encoded, np.float32), labels, source


def emulate_step(net: Network, array: ArrayConfig | str, batch: int, include_first_ig: bool = False, seed: int = 0,
                 progress: bool = False, data_dir: str | Path | None = None) -> StepCheck:
    """Run every task of one training step through the emulated array (an ArrayConfig or '32x32') and filter bank;
    the input comes from the dataset under `data_dir` when there is one (`step_input`)."""
    array = ArrayConfig.of(array)
    cost = network_cost(net, array, batch, include_first_ig)
    x0, labels, source = step_input(net, batch, seed, data_dir)
    params = init_params(net, seed)
    layers = net.compute_layers()
    t, nrn = net.timesteps, net.neuron
    checks: dict[tuple[int, TaskKind], TaskCheck] = {}
    banks: list[BankCheck] = []
    bar = tqdm(total=len(cost.tasks), desc="emulating tasks", disable=not progress, leave=False)

    def run_task(layer: ComputeLayer, kind: TaskKind, **ops: np.ndarray) -> tuple[GemmRun, np.ndarray]:
        a_op, b_op = operands(layer, kind, t, batch, **ops)
        gemm = emulate_gemm(a_op, b_op, array)
        got = output_tensor(layer, kind, t, batch, gemm.out)
        ref = reference(layer, kind, **ops)
        analytic = cost.task(layer.index, kind)
        checks[(layer.index, kind)] = TaskCheck(
            analytic.label, layer.name, analytic.gemm.rows, analytic.gemm.cols, analytic.gemm.macs, gemm.tiles,
            gemm.cycles, analytic.cycles, gemm.cycles == analytic.cycles and gemm.tiles == analytic.tiles,
            gemm.cycles_to_last_mac, gemm.macs, float(np.abs(got - ref.reshape(got.shape)).max()),
            float32_bound(a_op, b_op))
        bar.update()
        return gemm, got

    inputs, states = [], []
    h = x0
    for layer, (w, b) in zip(layers, params):
        h = h.reshape(t, batch, *layer.in_shape)  # a dense layer takes the flattened (H, W, C) spikes
        inputs.append(h)
        gemm, _ = run_task(layer, TaskKind.FP, x=h, w=w)
        current = gemm.out + b[None, :]  # the bias joins each column's output on its way into the filter
        v_rows, s_rows, timing = bank_forward(current, t, array, nrn if layer.spiking else None,  # None: eq. 18
                                              ready=gemm.ready)
        banks.append(BankCheck(layer.name, False, timing, gemm.cycles))
        states.append((v_rows, s_rows, None))
        spikes = from_rows(s_rows, (t, batch, *layer.out_shape))
        if layer.pool > 1:
            pooled, idx = pool_fp(spikes.reshape(t * batch, *layer.out_shape), layer.pool, layer.pool_kind)
            spikes = pooled.reshape(t, batch, *layer.sent_shape)
            states[-1] = (v_rows, s_rows, idx)
        h = np.ascontiguousarray(spikes, np.float32)
    logits = from_rows(states[-1][0], (t, batch, layers[-1].out_size))[-1]
    loss, g_logits = softmax_cross_entropy(logits, labels)  # eq. 7, 20
    g = accumulator_backward(g_logits.reshape(-1), t).reshape(t, batch, layers[-1].out_size)  # eq. 19

    for layer in reversed(layers):
        w = params[layer.index][0]
        run_task(layer, TaskKind.WG, x=inputs[layer.index], g=g)
        if layer.index == 0 and not include_first_ig:
            break
        ig, g_in = run_task(layer, TaskKind.IG, g=g, w=w)
        if layer.index == 0:
            break
        prev = layers[layer.index - 1]
        v_rows, s_rows, idx = states[prev.index]
        g_sent = g_in.reshape(t * batch, *prev.sent_shape)
        g_spike = pool_ig(g_sent, idx, prev.pool, prev.pool_kind) if prev.pool > 1 else g_sent
        g_rows, timing = bank_backward(to_rows(g_spike.reshape(t, batch, *prev.out_shape)), v_rows, s_rows, t,
                                       array, nrn)
        banks.append(BankCheck(prev.name, True, timing, ig.cycles))
        g = from_rows(g_rows, (t, batch, *prev.out_shape))
    bar.close()
    return StepCheck(net.name, array, batch, seed, source, loss,
                     tuple(checks[(tc.layer, tc.kind)] for tc in cost.tasks), tuple(banks), cost.total)
