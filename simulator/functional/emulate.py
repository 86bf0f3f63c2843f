"""Selected slices through the cycle-level emulator (`simulator.emulator`): the systolic array
and, for FP, the IIR filter bank, in place of the fast kernels.

The slice's row tiles are emulated on its real operands (the task's GEMM operands of the
samples it touches, rows `(b, h, w, t)`); the emulated values replace the fast ones in the
slice's share, and a record compares them: emulated cycles of the slice's tiles against the
slice's cycles in the schedule (`simulator.cost`), the largest difference to the fast
kernels' values against the float32 bound of the GEMM, and, for FP, the spikes that differ.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from simulator.cost import ArrayConfig, TaskKind
from simulator.emulator import bank_forward, emulate_gemm, float32_bound, from_rows, operands, to_rows
from workloads import ComputeLayer, LayerKind, Neuron

from .shares import FPShare, Geometry, IGShare, fp_share


@dataclass(frozen=True)
class EmulationRecord:
    """One emulated slice of one mini-batch."""

    slice: str
    batch: int
    emulated_cycles: int
    slice_cycles: int
    max_abs_error: float
    float32_bound: float
    spikes_differing: int

    @property
    def ok(self) -> bool:
        return self.emulated_cycles == self.slice_cycles and self.max_abs_error <= self.float32_bound

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def _run(a: np.ndarray, b: np.ndarray, geo: Geometry, array: ArrayConfig) -> tuple[np.ndarray, int, float]:
    """Emulate the slice's row tiles of `a @ b` (`a`: the rows of the samples it touches)
    -> (their output rows, cycles of the slice's tiles, float32 bound)."""
    r0, r1 = geo.rows
    off = geo.samples[0] * geo.per_sample
    a_sl = a[r0 - off:r1 - off]
    run = emulate_gemm(a_sl, b, array)
    first = geo.grid.first_tile_of_row(r0)  # task tile of the first emulated tile
    cycles = int(run.tile_cycles[geo.tile_start - first:geo.tile_stop - first].sum())
    return run.out, cycles, float32_bound(a_sl, b)


def emulate_fp(layer: ComputeLayer, geo: Geometry, sl, batch: int, array: ArrayConfig, x: np.ndarray,
               static: bool, w: np.ndarray, bias: np.ndarray, timesteps: int, neuron: Neuron,
               share: FPShare, current: np.ndarray, records: list) -> FPShare:
    """An FP slice's share computed by the emulated array and filter bank."""
    t = timesteps
    b0, b1 = geo.samples
    xs = x[b0:b1] if static else x[:, b0:b1]
    xs = np.broadcast_to(xs[None], (t,) + xs.shape) if static else xs
    xs = xs.reshape((t, b1 - b0) + tuple(layer.in_shape))
    a, b = operands(layer, TaskKind.FP, t, b1 - b0, x=xs, w=w)
    out, cycles, bound = _run(a, b, geo, array)
    rows = to_rows(current).copy()  # the fast currents; the slice's rows replaced below
    r0, r1 = geo.rows
    off = b0 * geo.per_sample
    fast = rows[r0 - off:r1 - off].copy()
    rows[r0 - off:r1 - off] = out + bias[None, :]  # the bias joins each column on its way into the filter
    err = float(np.abs(rows[r0 - off:r1 - off] - fast).max())
    spiking = layer.kind is not LayerKind.OUTPUT
    v_rows, s_rows, _ = bank_forward(rows, t, array, neuron if spiking else None)  # None: eq. 18
    shape = (t, b1 - b0) + tuple(layer.out_shape)
    v_m = from_rows(v_rows, shape)
    if spiking:
        window = np.abs(v_m - np.float32(neuron.threshold)) <= np.float32(neuron.alpha)  # window bit, models.neuron
        values = from_rows(s_rows, shape) | (window.astype(np.uint8) << np.uint8(1))
        differ = int(((values & 1) != (share.values & 1))[:, geo.complete].sum())
    else:
        values, differ = np.ascontiguousarray(v_m), 0
    emu_current = from_rows(rows, shape)
    records.append(EmulationRecord(sl.label, batch, cycles, sl.cycles, err, bound, differ))
    return fp_share(layer, geo, emu_current, neuron, values=np.ascontiguousarray(values))


def emulate_ig(layer: ComputeLayer, geo: Geometry, sl, batch: int, array: ArrayConfig, w: np.ndarray,
               g_current: np.ndarray, timesteps: int, share: IGShare, records: list) -> IGShare:
    """An IG slice's share computed by the emulated array."""
    t = timesteps
    b0, b1 = geo.samples
    gs = np.ascontiguousarray(g_current[:, b0:b1])
    a, b = operands(layer, TaskKind.IG, t, b1 - b0, g=gs, w=w)
    out, cycles, bound = _run(a, b, geo, array)
    rows = to_rows(share.values.reshape(t, b1 - b0, -1, geo.channels)).copy()
    r0, r1 = geo.rows
    off = b0 * geo.per_sample
    err = float(np.abs(out - rows[r0 - off:r1 - off]).max())
    rows[r0 - off:r1 - off] = out
    values = from_rows(rows, (t, b1 - b0, rows.shape[0] // (t * (b1 - b0)), geo.channels))
    records.append(EmulationRecord(sl.label, batch, cycles, sl.cycles, err, bound, 0))
    return IGShare(geo, np.ascontiguousarray(values).reshape(share.values.shape))
