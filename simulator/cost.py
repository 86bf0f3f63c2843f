"""What every training task costs on an output-stationary systolic array.

The single source of truth for cycles and bytes: nothing else recomputes them.

Each compute layer has three tasks (Section IV-B): forward pass (FP), weight
gradient (WG) and input gradient (IG). A task is a GEMM mapped onto an
`SR x SC` array with `N_rows x N_cols` outputs and `N_MAC` multiply-accumulates
per output (Tables IV and V); it is tiled over the array (eq. 26) and each tile
costs its MACs plus the input and output skew (eq. 27); the task costs
tiles x cycles per tile (eq. 28, 29). The batch size `B` multiplies the
streamed dimension: FP rows, WG MACs, IG rows. Pools (max, sum, average) cost no
array cycles. Convolution IG rows use the unpadded input (Table VI's 26,264).

A convolution of stride `s` (Table IV generalised, docs/cost-model.md): FP and WG
keep their GEMMs over the `H_out x W_out` output positions. IG stays one output per
input position and channel, `H*W*T*B x C`, with `K*K*F` MACs each: it is the stride-1
correlation of the rotated kernel over dL/di dilated by `s - 1` zeros between its
elements, which is what an output-stationary array without zero skipping computes
(only about `1/s^2` of those MACs meet a non-zero).

Bytes (per mini-batch), as the hardware stores them (`ByteModel`):
- spikes are binary: 1 bit per neuron per timestep, packed; what a sum or
  average pool sends is each window's spike count, 0..size^2, in
  `(size^2).bit_length()` bits (the average is that count times the constant
  1/size^2, which the receiving layer applies);
- weights, weight gradients, currents, potentials and gradients: float32;
- the first layer's input is the dataset's: an image is a constant input
  current (float32 per pixel, the same at every timestep, stored once), event
  frames are spikes;
- what a spiking layer keeps from FP for its backward pass is 2 bits per
  neuron per timestep: its spike (the reset gate of eq. 15-17, 23) and whether
  `|v_m - V_th| <= alpha` (the surrogate of eq. 22 is 1/(2 alpha) there, else
  0), not the float membrane potential;
- between layer l and l+1 travel the spikes layer l sends (after its pool)
  and the gradient dL/dv_sp of those same elements (float32). The gradient
  filter of eq. 17/23 that turns it into dL/di_in runs on the processor that
  holds layer l's state.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from math import ceil
from typing import Iterator

from workloads import ComputeLayer, ConfigError, InputKind, LayerKind, Network


class TaskKind(str, Enum):
    """The three tasks of a layer."""

    FP = "FP"
    WG = "WG"
    IG = "IG"


@dataclass(frozen=True)
class ArrayConfig:
    """An `rows x cols` (SR x SC) output-stationary systolic array."""

    rows: int
    cols: int

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"array: field '{name}' must be a positive integer, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> ArrayConfig:
        """`'32x32'`, `'16x64'` or `'32'` (square)."""
        parts = str(text).lower().replace("×", "x").split("x")
        try:
            sizes = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"array: {text!r} is not of the form ROWSxCOLS (e.g. 32x32)") from None
        if len(sizes) == 1:
            sizes *= 2
        if len(sizes) != 2:
            raise ConfigError(f"array: {text!r} is not of the form ROWSxCOLS (e.g. 32x32)")
        return cls(*sizes)

    @classmethod
    def of(cls, value: ArrayConfig | str | int | tuple[int, int]) -> ArrayConfig:
        """What every public function taking an array accepts: an `ArrayConfig`, `'32x32'`, `32` or `(32, 32)`."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value, value)
        if isinstance(value, tuple) and len(value) == 2:
            return cls(*value)
        raise ConfigError(f"array: expected an ArrayConfig or 'ROWSxCOLS' (e.g. '32x32'), got {value!r}")

    def __str__(self) -> str:
        return f"{self.rows}x{self.cols}"


@dataclass(frozen=True)
class ByteModel:
    """How many bits the hardware stores per element of each kind."""

    spike_bits: int = 1
    value_bytes: int = 4
    state_bits: int = 2

    def activations(self, count: int, levels: int = 2) -> int:
        """`count` elements of `levels` values each: spikes (2 levels) at `spike_bits`, a pool's window
        counts (`size^2 + 1` levels) in as many bits as the largest count needs, at least `spike_bits`."""
        return ceil(count * max(self.spike_bits, (levels - 1).bit_length()) / 8)

    def values(self, count: int) -> int:
        return count * self.value_bytes

    def state(self, count: int) -> int:
        return ceil(count * self.state_bits / 8)


HARDWARE_BYTES = ByteModel()
"""Default: packed spikes, float32 values, 2-bit backward state."""

FLOAT32_BYTES = ByteModel(spike_bits=32, value_bytes=4, state_bits=64)
"""A software layout for comparison: spikes as float32 and float32 v_m and spikes kept for BP."""


@dataclass(frozen=True)
class Gemm:
    """A task as an output-stationary GEMM: outputs `rows x cols`, `macs` MACs per output."""

    rows: int
    cols: int
    macs: int


@dataclass(frozen=True)
class TileGrid:
    """A GEMM's `rows x cols` outputs cut into `SR x SC` tiles (eq. 26), numbered row-major: row
    tile outer, column tile inner. The last row and column of tiles may be partial. The one
    place that maps tile numbers to GEMM rows and columns."""

    rows: int
    cols: int
    sr: int
    sc: int

    @classmethod
    def of(cls, gemm: Gemm, array: ArrayConfig) -> TileGrid:
        return cls(gemm.rows, gemm.cols, array.rows, array.cols)

    @property
    def row_tiles(self) -> int:
        return -(-self.rows // self.sr)

    @property
    def col_tiles(self) -> int:
        return -(-self.cols // self.sc)

    @property
    def count(self) -> int:
        """eq. 26: N_tiles = ceil(N_rows / SR) * ceil(N_cols / SC)."""
        return self.row_tiles * self.col_tiles

    def tile_of(self, row, col):
        """Tile number of GEMM element (row, col); numpy arrays broadcast."""
        return (row // self.sr) * self.col_tiles + col // self.sc

    def first_tile_of_row(self, row: int) -> int:
        """Number of the first tile in the row of tiles holding GEMM row `row`."""
        return (row // self.sr) * self.col_tiles

    def row_span(self, start: int, stop: int) -> tuple[int, int]:
        """GEMM rows `[r0, r1)` of the rows of tiles that tiles `[start, stop)` touch."""
        r0 = (start // self.col_tiles) * self.sr
        return r0, min(self.rows, ((stop - 1) // self.col_tiles + 1) * self.sr)

    def column_share(self, start: int, stop: int) -> float:
        """Share of the columns tiles `[start, stop)` cover: all of them once they span two rows of tiles."""
        if start // self.col_tiles != (stop - 1) // self.col_tiles:
            return 1.0
        return (stop - start) / self.col_tiles


@dataclass(frozen=True)
class TaskCost:
    """Cycles and bytes of one task of one layer for one mini-batch."""

    layer: int
    name: str
    kind: TaskKind
    gemm: Gemm
    grid: TileGrid
    cycles_per_tile: int
    input_bytes: int
    weight_bytes: int
    output_bytes: int

    @property
    def row_tiles(self) -> int:
        return self.grid.row_tiles

    @property
    def col_tiles(self) -> int:
        return self.grid.col_tiles

    @property
    def tiles(self) -> int:
        """eq. 26"""
        return self.grid.count

    @property
    def cycles(self) -> int:
        """eq. 28 / 29"""
        return self.tiles * self.cycles_per_tile

    @property
    def label(self) -> str:
        return f"{self.kind.value}{self.layer}"

    @property
    def macs(self) -> int:
        """Useful multiply-accumulates: N_rows * N_cols * N_MAC (Tables IV, V), idle PEs not counted."""
        return self.gemm.rows * self.gemm.cols * self.gemm.macs


def gemm_shape(layer: ComputeLayer, kind: TaskKind, timesteps: int, batch: int) -> Gemm:
    """Rows, columns and MACs per output of a task (Table IV conv, Table V dense).

    Convolution IG is the dense transposed convolution whatever the stride: every input
    position takes all `K*K*F` taps of the dL/di dilated by the stride (module docstring)."""
    tb = timesteps * batch
    if layer.kind is LayerKind.CONV:
        h, w, c = layer.in_shape
        hout, wout, f = layer.out_shape
        kkc, kkf = layer.kernel * layer.kernel * c, layer.kernel * layer.kernel * f
        return {
            TaskKind.FP: Gemm(hout * wout * tb, f, kkc),
            TaskKind.WG: Gemm(kkc, f, hout * wout * tb),
            TaskKind.IG: Gemm(h * w * tb, c, kkf),
        }[kind]
    q_in, q_out = layer.in_size, layer.out_size
    return {
        TaskKind.FP: Gemm(tb, q_out, q_in),
        TaskKind.WG: Gemm(q_in, q_out, tb),
        TaskKind.IG: Gemm(tb, q_in, q_out),
    }[kind]


def cycles_per_tile(gemm: Gemm, array: ArrayConfig) -> int:
    """eq. 27: N_MAC + (SR - 1) + (SC - 1)."""
    return gemm.macs + (array.rows - 1) + (array.cols - 1)


def zero_skip_cycles_per_tile(gemm: Gemm, array: ArrayConfig, density: float) -> int:
    """eq. 27 on an array that skips zero spikes (machine option `processors.zero_skip`,
    docs/machine.md): of the tile's `N_MAC` input steps only the `ceil(density * N_MAC)` holding
    a one are streamed, after a zero-detect and prefix sum that take one cycle per block of `SR`
    input steps (`ceil(N_MAC / SR)`); the skew stays. The array streams densely when skipping does
    not pay, so a tile never takes longer than eq. 27. An idealised compaction: it assumes the ones
    of the `SR` rows a tile streams can be packed together (the density is the layer's, per tile)."""
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0.0 <= density <= 1.0:
        raise ConfigError(f"zero skip: density must be a number in [0, 1], got {density!r}")
    n = gemm.macs
    mac = min(n, ceil(density * n) + ceil(n / array.rows))
    return mac + (array.rows - 1) + (array.cols - 1)


def zero_skip_cycles(task: TaskCost, array: ArrayConfig, density: float) -> int:
    """Cycles of `task` (costed on `array`) on an array that skips zero spikes: its tiles times
    `zero_skip_cycles_per_tile` (eq. 28 / 29 with the shortened MAC phase)."""
    if task.grid != TileGrid.of(task.gemm, array):
        raise ConfigError(f"zero skip: task {task.label} was not costed on a {array} array")
    return task.tiles * zero_skip_cycles_per_tile(task.gemm, array, density)


def input_activation_bytes(net: Network, layer: ComputeLayer, batch: int, bm: ByteModel) -> int:
    """The layer's input as stored: the dataset input for layer 0, else what the layer before sends."""
    if layer.index == 0:
        if net.input_kind is InputKind.CURRENT:
            return bm.values(layer.in_size * batch)  # constant current, stored once per sample
        return bm.activations(layer.in_size * net.timesteps * batch)
    return sent_bytes(net.compute_layers()[layer.index - 1], net.timesteps * batch, bm)


def sent_bytes(layer: ComputeLayer, samples: int, bm: ByteModel) -> int:
    """What a spiking layer sends for `samples` timesteps x samples: spikes, or a sum / average pool's counts."""
    return bm.activations(layer.sent_size * samples, layer.sent_levels)


def task_cost(net: Network, layer: ComputeLayer, kind: TaskKind, array: ArrayConfig, batch: int,
              bm: ByteModel = HARDWARE_BYTES) -> TaskCost:
    """Cycles (eq. 26-29) and bytes read and written by one task for one mini-batch."""
    gemm = gemm_shape(layer, kind, net.timesteps, batch)
    tb = net.timesteps * batch
    act_in = input_activation_bytes(net, layer, batch, bm)
    weights = bm.values(layer.params)
    grad_current = bm.values(layer.out_size * tb)  # dL/di_in of this layer
    if kind is TaskKind.FP:
        out = sent_bytes(layer, tb, bm) if layer.spiking else bm.values(layer.out_size * batch)
        io = (act_in, weights, out)
    elif kind is TaskKind.WG:
        io = (act_in + grad_current, 0, weights)
    else:
        io = (grad_current, bm.values(layer.weight_count), bm.values(layer.in_size * tb))
    return TaskCost(layer.index, layer.name, kind, gemm, TileGrid.of(gemm, array), cycles_per_tile(gemm, array), *io)


@dataclass(frozen=True)
class NetworkCost:
    """The cost of every task of one training step (one weight update).

    `tasks` holds the tasks training performs, layer by layer in the order
    FP, WG, IG; the first layer's IG is among them only with
    `include_first_ig` (it is not needed for training, Section IV-C), but it is
    always available as `first_ig` for display.
    """

    network: Network
    array: ArrayConfig
    batch: int
    include_first_ig: bool

    def __repr__(self) -> str:
        return (f"NetworkCost({self.network.name}, array {self.array}, batch {self.batch}, "
                f"{len(self.tasks)} tasks, {self.total:,} cycles per update)")
    tasks: tuple[TaskCost, ...]
    first_ig: TaskCost
    bytes_model: ByteModel

    @property
    def total(self) -> int:
        """N_total: cycles per weight update on one processor."""
        return sum(t.cycles for t in self.tasks)

    def task(self, layer: int, kind: TaskKind) -> TaskCost:
        for t in self.tasks:
            if t.layer == layer and t.kind is kind:
                return t
        if layer == 0 and kind is TaskKind.IG:
            return self.first_ig
        raise KeyError((layer, kind))

    def layer_rows(self) -> Iterator[tuple[ComputeLayer, dict[TaskKind, TaskCost]]]:
        """Per layer its tasks (first IG included for display)."""
        for layer in self.network.compute_layers():
            yield layer, {k: self.task(layer.index, k) for k in TaskKind}

    def state_bytes(self, layer: int) -> int:
        """What FP of a layer keeps for its backward pass: 2-bit state per neuron and timestep,
        or the logits (eq. 20) for the output layer."""
        cl = self.network.compute_layers()[layer]
        if not cl.spiking:
            return self.bytes_model.values(cl.out_size * self.batch)
        return self.bytes_model.state(cl.out_size * self.network.timesteps * self.batch)

    def filter_steps(self, layer: int, kind: TaskKind) -> int:
        """IIR filter steps of a task: one per neuron, timestep and sample for FP (eq. 4-5; the
        output layer's accumulator, eq. 18) and for WG, whose gradient filter (eq. 17, 23; eq. 19
        for the output layer) makes the layer's dL/di_in once per mini-batch; none for IG."""
        if kind is TaskKind.IG:
            return 0
        return self.network.compute_layers()[layer].out_size * self.network.timesteps * self.batch

    def filter_bytes(self, layer: int, kind: TaskKind) -> tuple[int, int]:
        """Bytes the IIR filter bank reads and writes in a task beyond the task's own operands.

        FP: the filters take the array's column outputs directly; a spiking layer writes its
        2-bit backward state (the output layer's logits are already its FP output).
        WG: the gradient filter reads dL/dv_sp of what the layer sends and the state (the
        output layer: dL/dv_m[T-1] of eq. 20, float32 per output and sample) and writes dL/di_in,
        which WG and IG then read. IG: none.
        """
        if kind is TaskKind.IG:
            return 0, 0
        cl = self.network.compute_layers()[layer]
        bm, tb = self.bytes_model, self.network.timesteps * self.batch
        if kind is TaskKind.FP:
            return 0, (self.state_bytes(layer) if cl.spiking else 0)
        grad = (bm.values(cl.sent_size * tb) + self.state_bytes(layer) if cl.spiking
                else bm.values(cl.out_size * self.batch))
        return grad, bm.values(cl.out_size * tb)

    def boundary_bytes(self) -> tuple[int, ...]:
        """Bytes crossing each layer boundary l|l+1 per mini-batch: spikes (or pooled counts) forward, dL/dv_sp back."""
        layers = self.network.compute_layers()
        tb = self.network.timesteps * self.batch
        bm = self.bytes_model
        return tuple(sent_bytes(l, tb, bm) + bm.values(l.sent_size * tb) for l in layers[:-1])

    @property
    def communication_bytes(self) -> int:
        """Total inter-layer communication of one weight update (every boundary crossed)."""
        return sum(self.boundary_bytes())

    @property
    def memory_bytes(self) -> int:
        """Single-processor memory to keep the intermediates of one mini-batch for its backward pass.

        Per layer: its input (needed by WG) and, for spiking layers, the state
        bits of every neuron and timestep (needed by the gradient filter);
        for the output layer, its logits (eq. 20).
        """
        net, bm, b = self.network, self.bytes_model, self.batch
        return sum(input_activation_bytes(net, layer, b, bm) + self.state_bytes(layer.index)
                   for layer in net.compute_layers())


def network_cost(net: Network, array: ArrayConfig | str, batch: int = 1, include_first_ig: bool = False,
                 bytes_model: ByteModel = HARDWARE_BYTES) -> NetworkCost:
    """Cycles and bytes of every task of `net` on `array` (an ArrayConfig or '32x32') at mini-batch size `batch`."""
    array = ArrayConfig.of(array)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch: must be a positive integer, got {batch!r}")
    tasks = []
    first_ig = None
    for layer in net.compute_layers():
        for kind in TaskKind:
            cost = task_cost(net, layer, kind, array, batch, bytes_model)
            if layer.index == 0 and kind is TaskKind.IG:
                first_ig = cost
                if not include_first_ig:
                    continue
            tasks.append(cost)
    assert first_ig is not None
    return NetworkCost(net, array, batch, include_first_ig, tuple(tasks), first_ig, bytes_model)
