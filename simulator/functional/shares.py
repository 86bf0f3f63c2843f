"""The values of split FP and IG slices: each slice computes its tiles' GEMM rows; the shares are joined.

Geometry. A task's GEMM rows are ordered `(b, h, w, t)` (timestep innermost, see
`simulator.emulator.tasks`), its columns are channels; tiles are numbered row-major (row
tile outer, column tile inner). A slice owning tiles `[s0, s1)` owns the GEMM elements of
those tiles. Its values are computed with the trainer's kernels (`models.layers`,
`models.snn`) on the samples its rows touch, and only the owned elements are kept. Those
kernels compute each row on its own in a fixed order -- the event-driven spike kernels, and
`models.gemm.matmul` for the float products (never BLAS, whose result for a row may depend on
the rows beside it) -- so the kept values are the unsplit task's bit for bit, on any machine
(the one or two edge samples a slice shares with its neighbour are computed by both, each
keeping its own rows; the hardware computes exactly its tiles -- the cycles come from `cost`).

Cut neurons. A tile boundary can cut a neuron's `T` timesteps. The LIF filter needs all of
them in order, and the discrete-event model has no dependency between slices of one task
(adding one would change the timing), so a slice runs the IIR filter for the neurons it
holds whole and sends the *currents* of the timesteps it holds of a cut neuron; whoever
joins the shares (every consumer of the task's output waits for all shares anyway) finishes
the cut neurons from the joined currents. The filter is per neuron and sequential in time,
so the result equals the unsplit filter's bit for bit. IG slices need no such care: the
gradient filter of layer `l - 1` runs where that layer's state is, at its WG and IG
(the data-flow of `simulator.schedule.dataflow`), on the joined dL/ds.

The pool (max, sum or average) runs where the shares of a forward task are joined (it costs
no array cycles in the paper's model). A strided convolution changes no geometry here: FP's
GEMM rows are its `H_out x W_out` output positions, IG's the `H x W` input positions, and
each slice runs the trainer's strided kernels on the samples its rows touch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from models import layers as L
from models.neuron import accumulator_forward, lif_forward_packed
from models.snn import LayerState, ig_gemm
from simulator.cost import TaskCost, TaskKind, TileGrid
from workloads import ComputeLayer, ConfigError, LayerKind, Neuron


@dataclass(frozen=True)
class Geometry:
    """Where a slice's tiles lie in its task's output tensor `(T, B, *positions, channels)`."""

    timesteps: int
    batch: int
    positions: tuple[int, ...]  # spatial shape of one sample's neurons, () for dense layers
    channels: int
    grid: TileGrid  # the task's GEMM tiles
    tile_start: int
    tile_stop: int

    @property
    def per_sample(self) -> int:
        """GEMM rows of one sample: its positions times T."""
        return int(np.prod(self.positions, dtype=np.int64)) * self.timesteps

    @property
    def rows(self) -> tuple[int, int]:
        """GEMM rows of the row tiles the slice touches."""
        return self.grid.row_span(self.tile_start, self.tile_stop)

    @property
    def samples(self) -> tuple[int, int]:
        """Samples `[bA, bB)` the slice's rows touch."""
        r0, r1 = self.rows
        return r0 // self.per_sample, -(-r1 // self.per_sample)

    @cached_property
    def owned(self) -> np.ndarray:
        """Bool mask `(T, bB - bA, *positions, channels)`: the elements of tiles `[s0, s1)`."""
        b0, b1 = self.samples
        t = self.timesteps
        npos = self.per_sample // t
        b = np.arange(b0, b1, dtype=np.int64)[None, :, None]
        pos = np.arange(npos, dtype=np.int64)[None, None, :]
        r = (b * npos + pos) * t + np.arange(t, dtype=np.int64)[:, None, None]  # rows (b, h, w, t)
        tile = self.grid.tile_of(r[..., None], np.arange(self.channels))
        mask = (tile >= self.tile_start) & (tile < self.tile_stop)
        mask = mask.reshape((t, b1 - b0) + self.positions + (self.channels,))
        mask.flags.writeable = False
        return mask

    @cached_property
    def complete(self) -> np.ndarray:
        """Bool `(bB - bA, *positions, channels)`: neurons whose every timestep the slice owns."""
        done = self.owned.all(axis=0)
        done.flags.writeable = False
        return done

    @cached_property
    def whole_samples(self) -> tuple[int, int]:
        """Samples `[f0, f1)` all of whose elements the slice owns (contiguous: tiles are)."""
        b0 = self.samples[0]
        whole = np.flatnonzero(self.complete.reshape(self.complete.shape[0], -1).all(axis=1))
        return (b0 + int(whole[0]), b0 + int(whole[-1]) + 1) if len(whole) else (b0, b0)

    @cached_property
    def cut_elements(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Owned elements of neurons not held whole: flat indices into the samples' `(T, bb, ...)`
        and into the batch's `(T, B, ...)` tensor, and the neurons' flat indices into `(B, ...)`."""
        b0, b1 = self.samples
        per = self.owned[0, 0].size  # neurons of one sample
        cut = self.owned & ~self.complete[None]
        local = np.flatnonzero(cut)
        t, rest = np.divmod(local, (b1 - b0) * per)
        neurons = np.flatnonzero(cut.any(axis=0)) + b0 * per
        return local, t * (self.batch * per) + b0 * per + rest, neurons


def geometry(layer: ComputeLayer, task: TaskCost, timesteps: int, batch: int, tile_start: int,
             tile_stop: int) -> Geometry:
    """The geometry of tiles `[tile_start, tile_stop)` of an FP or IG task (checked against `cost`)."""
    shape = layer.out_shape if task.kind is TaskKind.FP else layer.in_shape
    positions = tuple(shape[:-1]) if layer.kind is LayerKind.CONV else ()
    channels = shape[-1] if layer.kind is LayerKind.CONV else int(np.prod(shape))
    geo = Geometry(timesteps, batch, positions, channels, task.grid, tile_start, tile_stop)
    if geo.per_sample * batch != task.gemm.rows or channels != task.gemm.cols:
        raise ConfigError(f"functional: {task.label} GEMM is {task.gemm.rows}x{task.gemm.cols}, the layer's "
                          f"tensors give {geo.per_sample * batch}x{channels}")
    return geo


@dataclass(frozen=True)
class FPShare:
    """A split FP slice's output: filter results of the neurons it holds whole, currents of cut ones."""

    geo: Geometry
    values: np.ndarray    # (T, bb, *pos, F): packed state (uint8) or output potentials (float32), valid where complete
    currents: np.ndarray  # float32 currents of the owned elements of cut neurons (`geo.cut_elements` order)


@dataclass(frozen=True)
class IGShare:
    """A split IG slice's output: dL/ds of the previous layer, valid at its owned elements."""

    geo: Geometry
    values: np.ndarray


def fp_currents(layer: ComputeLayer, w: np.ndarray, b: np.ndarray, x: np.ndarray, timesteps: int,
                static: bool) -> np.ndarray:
    """The FP GEMM + bias (eq. 8-9) for inputs `x` (T, bb, *in) or static (bb, *in) -> (T, bb, *out) float32."""
    bb = x.shape[0] if static else x.shape[1]
    rows = x.reshape((-1,) + tuple(layer.in_shape))
    cur = (L.conv_fp(rows, w, b, layer.padding, layer.stride) if layer.kind is LayerKind.CONV
           else L.dense_fp(rows, w, b))
    cur = cur.reshape((1 if static else timesteps, bb) + tuple(layer.out_shape))
    return np.broadcast_to(cur, (timesteps,) + cur.shape[1:]) if static else cur


def neuron_filter(layer: ComputeLayer, current: np.ndarray, neuron: Neuron) -> np.ndarray:
    """The IIR filter bank on currents (T, ...): packed LIF state uint8 (eq. 4-5) or, for the
    output layer, the accumulator's potentials float32 (eq. 18)."""
    t = current.shape[0]
    cur = np.ascontiguousarray(current, np.float32).reshape(t, -1)
    if layer.kind is LayerKind.OUTPUT:
        return accumulator_forward(cur).reshape(current.shape)  # eq. 18
    state = np.empty(cur.shape, np.uint8)
    lif_forward_packed(cur, np.zeros(cur.shape[1], np.float32), neuron.c, neuron.lam, neuron.threshold,
                       neuron.alpha, state)  # eq. 4-5
    return state.reshape(current.shape)


def layer_state(layer: ComputeLayer, values: np.ndarray) -> LayerState:
    """What `models.snn.layer_fp` returns, from the filter results of the whole batch (T, B, *out)."""
    if layer.kind is LayerKind.OUTPUT:
        return LayerState(values, None, values, None)
    spikes = values & np.uint8(1)
    if layer.pool == 1:
        return LayerState(spikes, values, None, None)
    t, batch = values.shape[:2]
    pooled, idx = L.pool_fp(spikes.reshape((t * batch,) + tuple(layer.out_shape)), layer.pool, layer.pool_kind)
    return LayerState(pooled.reshape((t, batch) + tuple(layer.sent_shape)), values, None, idx)


def fp_share(layer: ComputeLayer, geo: Geometry, current: np.ndarray, neuron: Neuron,
             values: np.ndarray | None = None) -> FPShare:
    """A split FP slice's share from the currents of the samples it touches (T, bb, *out); `values`
    are the filter results if already computed (the emulated filter bank)."""
    current = np.ascontiguousarray(current, np.float32)
    if values is None:
        values = neuron_filter(layer, current, neuron)
    return FPShare(geo, values, current.reshape(-1)[geo.cut_elements[0]])


def _place(out: np.ndarray, geo: Geometry, values: np.ndarray, where: np.ndarray) -> None:
    """Copy a share's valid values into the batch tensor `out`: whole samples at once, edges masked."""
    b0, b1 = geo.samples
    f0, f1 = geo.whole_samples
    out[:, f0:f1] = values[:, f0 - b0:f1 - b0]
    for e in (*range(b0, f0), *range(max(f0, f1), b1)):
        np.copyto(out[:, e], values[:, e - b0], where=where[e - b0])


def join_fp(layer: ComputeLayer, shares: list, timesteps: int, batch: int, neuron: Neuron) -> LayerState:
    """Join the shares of an FP task into the layer's `LayerState`, finishing the cut neurons."""
    if len(shares) == 1 and isinstance(shares[0], LayerState):
        return shares[0]
    shape = (timesteps, batch) + tuple(layer.out_shape)
    values = np.zeros(shape, np.float32 if layer.kind is LayerKind.OUTPUT else np.uint8)
    current = np.zeros(int(np.prod(shape)), np.float32)
    cut = []
    for sh in shares:
        if not isinstance(sh, FPShare):
            raise ConfigError(f"functional: FP{layer.index} mixes whole and split shares")
        _place(values, sh.geo, sh.values, sh.geo.complete)
        _, elements, neurons = sh.geo.cut_elements
        current[elements] = sh.currents
        cut.append(neurons)
    flat = np.unique(np.concatenate(cut))
    if len(flat):  # finish the cut neurons from their joined currents
        finished = neuron_filter(layer, current.reshape(timesteps, -1)[:, flat], neuron)
        values.reshape(timesteps, -1)[:, flat] = finished
    return layer_state(layer, values)


def ig_share(layer: ComputeLayer, geo: Geometry, w: np.ndarray, g_current: np.ndarray) -> IGShare:
    """A split IG slice's share: the transposed GEMM (eq. 12) on the samples its rows touch."""
    b0, b1 = geo.samples
    values = ig_gemm(layer, w, np.ascontiguousarray(g_current[:, b0:b1]))
    return IGShare(geo, values)


def join_ig(layer: ComputeLayer, shares: list, timesteps: int, batch: int) -> np.ndarray:
    """Join the shares of layer `layer`'s IG into dL/ds (T, B, *layer.in_shape) float32."""
    if len(shares) == 1 and isinstance(shares[0], np.ndarray):
        return shares[0]
    out = np.zeros((timesteps, batch) + tuple(layer.in_shape), np.float32)
    for sh in shares:
        if not isinstance(sh, IGShare):
            raise ConfigError(f"functional: IG{layer.index} mixes whole and split shares")
        _place(out, sh.geo, sh.values, sh.geo.owned.transpose(1, 0, *range(2, sh.geo.owned.ndim)))
    return out
